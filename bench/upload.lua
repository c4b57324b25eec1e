-- POST /api/upload_profile_pic of the picture UPLOAD_FILE names, with the bearer token
-- UPLOAD_TOKEN (the same name each time: each upload replaces the last).
local boundary = "benchboundary7f3a"
local file = io.open(os.getenv("UPLOAD_FILE"), "rb")
local picture = file:read("*a")
file:close()
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("UPLOAD_TOKEN")
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\r\n"
  .. 'Content-Disposition: form-data; name="profile_pic"; filename="avatar.png"\r\n'
  .. "Content-Type: image/png\r\n\r\n"
  .. picture .. "\r\n--" .. boundary .. "--\r\n"
