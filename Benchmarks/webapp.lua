-- wrk script for Benchmarks/webapp.sh: each request carries the next user's token, read
-- from the file named by TOKENS, so the API serves every signed-in user in turn.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
local counter = 0
function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end
local index = 0
function request()
  index = index + 1
  local token = tokens[((offset or 0) + index) % #tokens + 1]
  return wrk.format("GET", "/me", { ["Authorization"] = "Bearer " .. token })
end
function done(summary, latency, requests)
  io.write(string.format('{"requests": %d, "errors": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
