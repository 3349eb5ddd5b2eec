-- wrk script of bench/serving/run.py: POST JSON bodies (one per line of $BENCH_BODIES, cycled through
-- so that no two consecutive requests are the same), with an optional bearer token ($BENCH_TOKEN).
-- At the end it prints one line "BENCH_RESULT {json}" (requests, latency percentiles in µs, socket
-- errors, non-2xx answers by status) and "BENCH_ERROR <status> <body>" for the first few non-2xx answers.

local bodies_file = os.getenv("BENCH_BODIES")
local token = os.getenv("BENCH_TOKEN")
local max_samples = 3

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if token ~= nil and token ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. token
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local requests_ = {}
local next_request = 0
non2xx = 0
codes = ""
samples = ""
local by_code = {}
local sampled = 0

function init(args)
   for line in io.lines(bodies_file) do
      if line ~= "" then
         requests_[#requests_ + 1] = wrk.format(nil, nil, nil, line)
      end
   end
   if #requests_ == 0 then
      error("no request bodies in " .. tostring(bodies_file))
   end
end

function request()
   next_request = next_request % #requests_ + 1
   return requests_[next_request]
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      by_code[status] = (by_code[status] or 0) + 1
      local parts = {}
      for code, count in pairs(by_code) do
         parts[#parts + 1] = string.format('"%d": %d', code, count)
      end
      codes = table.concat(parts, ", ")
      if sampled < max_samples then
         sampled = sampled + 1
         local text = string.gsub(string.sub(body or "", 1, 600), "[\r\n]", " ")
         samples = samples .. string.format("BENCH_ERROR %d %s\n", status, text)
      end
   end
end

function done(summary, latency, requests)
   local bad, all_codes, all_samples = 0, {}, ""
   for _, thread in ipairs(threads) do
      bad = bad + (thread:get("non2xx") or 0)
      local c = thread:get("codes") or ""
      if c ~= "" then all_codes[#all_codes + 1] = c end
      all_samples = all_samples .. (thread:get("samples") or "")
   end
   local e = summary.errors
   io.write(all_samples)
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %.0f, "bytes": %.0f, "non2xx": %d, "codes": {%s}, ' ..
      '"connect": %d, "read": %d, "write": %d, "timeout": %d, "status_over_399": %d, ' ..
      '"p50_us": %.0f, "p90_us": %.0f, "p99_us": %.0f, "max_us": %.0f, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.bytes, bad, table.concat(all_codes, ", "),
      e.connect, e.read, e.write, e.timeout, e.status,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
