#!/usr/bin/env python3
"""A stand-in for the user's browser in the CLI tests: set BROWSER to run this.

Usage: browser.py URL

It loads URL and follows redirects, as a browser does after a sign-in that needs no
input, and exits 0 once the last page answered 200. Only stdlib.
"""
import sys
import urllib.request


def main():
    with urllib.request.urlopen(sys.argv[1], timeout=30) as page:
        sys.exit(0 if page.status == 200 else 1)


if __name__ == "__main__":
    main()
