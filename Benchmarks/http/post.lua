-- wrk script: POST a 1 KB JSON body that the server parses and answers.
local values = {}
for i = 1, 240 do values[#values + 1] = tostring(i) end
local body = '{"name":"benchmark","values":[' .. table.concat(values, ",") .. ']}'
while #body < 1024 do body = body:sub(1, #body - 2) .. ',0]}' end
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
