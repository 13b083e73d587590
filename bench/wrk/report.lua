-- wrk script of bench/run: one request shape from the environment, every answer checked,
-- one JSON summary line at the end (read by `loadgen wrk`).
--   WRK_METHOD  GET (default) or POST
--   WRK_BODY    request body (a form for POST)
--   WRK_AUTH    Authorization header value
--   WRK_EXPECT  text every answer must contain (besides status 200)
wrk.method = os.getenv("WRK_METHOD") or "GET"
wrk.body = os.getenv("WRK_BODY")
if wrk.body then
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
local auth = os.getenv("WRK_AUTH")
if auth then
  wrk.headers["Authorization"] = auth
end
local expect = os.getenv("WRK_EXPECT")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status ~= 200 or (expect and not string.find(body, expect, 1, true)) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total_bad = 0
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    '{"wrk":1,"requests":%d,"duration_us":%d,"p50_us":%.1f,"p99_us":%.1f,"bad":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    total_bad, e.connect + e.read + e.write + e.timeout))
end
