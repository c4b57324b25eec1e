-- POST /api/login with the benchmark user's credentials.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"hot@example.com","password":"correct horse battery staple"}'
