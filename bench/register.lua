-- POST /api/register, a new address each time (per thread, so threads never collide).
local counter = 0
local thread_id = 0
function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local email = string.format("r%d-%d-%d@example.com", tid or 0, counter, math.random(1, 1000000000))
  return wrk.format(nil, nil, nil,
    '{"name":"Bench","email":"' .. email .. '","password":"correct horse battery staple"}')
end
