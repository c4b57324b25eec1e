-- POST /api/token/refresh, one rotating chain per thread (run with as many connections as
-- threads): each response's refresh_token is the next request's, as a client does it. The
-- threads' first tokens are the lines of the file TOKENS_FILE names.
local tokens = {}
local next_thread = 1

function setup(thread)
  if #tokens == 0 then
    for line in io.lines(os.getenv("TOKENS_FILE")) do
      tokens[#tokens + 1] = line
    end
  end
  thread:set("token", tokens[next_thread])
  next_thread = next_thread + 1
end

function request()
  return wrk.format("POST", "/api/token/refresh", { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local successor = body:match('"refresh_token":"([^"]+)"')
  if successor then
    token = successor
  end
end
