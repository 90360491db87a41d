-- bench/cheap.lua: wrk replays pre-signed requests and checks every answer.
--
--   wrk ... -s bench/cheap.lua URL -- PREFIX STATUS CODE
--
-- Thread i of wrk sends the requests of PREFIX.i (written by
-- `ecshot-loadgen --raw PREFIX THREADS ...`: whole HTTP/1.1 requests, each
-- ending with its blank line and carrying no body), one after another,
-- each once: ecshotd accepts a nonce once, so a request sent twice is
-- answered SignatureNonceUsed. Should a thread run out, it starts over and
-- counts the requests it sends again as wrapped. Every answer must have
-- HTTP status STATUS and "Code":"CODE" in its body; any other is bad.
-- done() prints one line for bench/cheap.sh:
--   cheap requests=N seconds=S rps=R p50_ms=M p95_ms=P bad=B wrapped=W
--         socket_errors=E first_bad=STATUS:CODE
-- (rps counts every answer, bad ones included: bench/cheap.sh reports bad).

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- Per thread (each has its own Lua state): its requests and counters.
local requests, count, sent = {}, 0, 0
local want_status, want_code
bad, wrapped, first_bad = 0, 0, ""

function init(args)
  local prefix = args[1]
  want_status = tonumber(args[2])
  want_code = args[3]
  local f = assert(io.open(prefix .. "." .. id, "rb"))
  local text = f:read("*a")
  f:close()
  local from = 1
  while true do
    local s, e = text:find("\r\n\r\n", from, true)
    if not s then break end
    count = count + 1
    requests[count] = text:sub(from, e)
    from = e + 1
  end
  assert(count > 0, "no request in " .. prefix .. "." .. id)
end

function request()
  sent = sent + 1
  if sent > count then
    wrapped = wrapped + 1
  end
  return requests[(sent - 1) % count + 1]
end

function response(status, headers, body)
  local code = body and body:match('"Code"%s*:%s*"([^"]*)"') or "-"
  if status ~= want_status or code ~= want_code then
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. ":" .. code
    end
  end
end

function done(summary, latency, _)
  local b, w, fb = 0, 0, ""
  for _, t in ipairs(threads) do
    b = b + t:get("bad")
    w = w + t:get("wrapped")
    if fb == "" then fb = t:get("first_bad") or "" end
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "cheap requests=%d seconds=%.3f rps=%.0f p50_ms=%.3f p95_ms=%.3f bad=%d wrapped=%d " ..
    "socket_errors=%d first_bad=%s\n",
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, b, w, e.connect + e.read + e.write + e.timeout,
    fb == "" and "-" or fb))
end
