"""A small client of `oailb serve` with the official OpenAI Python SDK.

Usage: openai_client.py HOST:PORT KEY
Prints one JSON object with what each call returned.
"""
import json
import sys

import openai

addr, key = sys.argv[1], sys.argv[2]
out = {}

azure = openai.AzureOpenAI(
    azure_endpoint=f"http://{addr}/smart-api", api_key=key, api_version="2024-10-21", max_retries=0
)
r = azure.chat.completions.create(
    model="gpt-35-turbo", messages=[{"role": "user", "content": "hello"}], max_tokens=20
)
out["azure"] = {"content": r.choices[0].message.content, "total_tokens": r.usage.total_tokens}

parts = []
with azure.chat.completions.create(
    model="gpt-35-turbo", messages=[{"role": "user", "content": "stream"}], stream=True
) as stream:
    for chunk in stream:
        for c in chunk.choices:
            if c.delta and c.delta.content:
                parts.append(c.delta.content)
out["azure_stream"] = parts

plain = openai.OpenAI(base_url=f"http://{addr}/v1", api_key=key, max_retries=0)
r = plain.chat.completions.create(model="gpt-35-turbo", messages=[{"role": "user", "content": "hi"}])
out["openai"] = {"content": r.choices[0].message.content}
out["models"] = [m.id for m in plain.models.list()]

try:
    plain.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    out["not_found"] = None
except openai.NotFoundError as e:
    out["not_found"] = e.body.get("code") if isinstance(e.body, dict) else str(e.body)

bad = openai.OpenAI(base_url=f"http://{addr}/v1", api_key="wrong", max_retries=0)
try:
    bad.chat.completions.create(model="gpt-35-turbo", messages=[{"role": "user", "content": "hi"}])
    out["unauthorized"] = None
except openai.AuthenticationError as e:
    out["unauthorized"] = e.status_code

print(json.dumps(out))
