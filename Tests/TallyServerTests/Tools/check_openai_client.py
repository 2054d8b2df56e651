"""The official `openai` client (pinned in Tests/requirements.txt) against Tally's /v1 routes:
    check_openai_client.py BASE_URL API_KEY MODEL
Prints one JSON object of what the client read; the Swift test checks it."""
import json
import sys

import openai

base_url, api_key, model = sys.argv[1:4]
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=60)
result = {"models": [m.id for m in client.models.list().data]}

completion = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "name a fruit"}],
                                            max_tokens=12, seed=7, temperature=0.9, logprobs=True)
choice = completion.choices[0]
result["completion"] = {"id": completion.id, "object": completion.object, "content": choice.message.content, "role": choice.message.role,
                        "finish_reason": choice.finish_reason, "usage": completion.usage.model_dump(),
                        "logprobs": len(choice.logprobs.content) if choice.logprobs else None}

chunks = list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "name a fruit"}], max_tokens=12, seed=7,
                                             temperature=0.9, stream=True, stream_options={"include_usage": True}))
result["stream"] = {"content": "".join(c.choices[0].delta.content or "" for c in chunks if c.choices),
                    "finish_reason": next((c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason), None),
                    "usage": next((c.usage.model_dump() for c in chunks if c.usage), None), "chunks": len(chunks)}

try:
    client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    result["missing_model"] = None
except openai.NotFoundError as error:
    result["missing_model"] = {"status": error.status_code, "code": error.code, "message": error.message}

try:
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], temperature=5)
    result["bad_temperature"] = None
except openai.BadRequestError as error:
    result["bad_temperature"] = {"status": error.status_code, "param": error.param, "type": error.type}

try:
    openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
    result["wrong_key"] = None
except openai.AuthenticationError as error:
    result["wrong_key"] = {"status": error.status_code}

print(json.dumps(result))
