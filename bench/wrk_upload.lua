-- wrk script of bench/gateway.py: every request POSTs the same logger upload.
-- wrk keeps its connections alive (it cannot open a new connection per request); the Python
-- client of bench/load_clients.py measures that case. Body and credentials come from the
-- environment so that this file holds no data: WRK_BODY (a file) and WRK_AUTHORIZATION.

local function read(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

wrk.method = "POST"
wrk.body = read(os.getenv("WRK_BODY"))
wrk.headers["Content-Type"] = "text/csv"
wrk.headers["Authorization"] = os.getenv("WRK_AUTHORIZATION")

-- One machine-readable line; wrk's own report is human-only. Status errors are answers >= 400.
function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
