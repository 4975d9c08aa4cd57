-- wrk script for bench/serve.py: each request POSTs one real image file to /predict as multipart/form-data (the
-- field `file`), cycling through the files listed one per line in the first argument. A thread stops after the
-- second argument's count of answers (bench/serve.py runs one thread, so that is the run's count); wrk's -d bounds
-- the time. done() prints one JSON line, which the bench reads.
local boundary = "cnnlab-bench-7d3f9a"
local bodies, sent, answered, limit = {}, 0, 0, math.huge
local content_type = {["Content-Type"] = "multipart/form-data; boundary=" .. boundary}

function init(args)
  for path in io.lines(args[1]) do
    local file = assert(io.open(path, "rb"))
    local data = file:read("*a")
    file:close()
    bodies[#bodies + 1] = "--" .. boundary .. "\r\n"
      .. "Content-Disposition: form-data; name=\"file\"; filename=\"image.jpg\"\r\n"
      .. "Content-Type: image/jpeg\r\n\r\n" .. data .. "\r\n--" .. boundary .. "--\r\n"
  end
  assert(#bodies > 0, "no image files listed in " .. args[1])
  if args[2] then limit = tonumber(args[2]) end
end

function request()
  sent = sent + 1
  return wrk.format("POST", "/predict", content_type, bodies[(sent % #bodies) + 1])
end

function response(status, headers, body)
  answered = answered + 1
  if answered >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, "read_errors": %d, ' ..
    '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
