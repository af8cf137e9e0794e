#ifndef TOKENCACHE_CSQLITE_SHIM_H
#define TOKENCACHE_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
