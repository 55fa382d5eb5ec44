"""A stand-in Extrovert client API (`campaigns sandbox`), strict about every payload.

- `sandbox.server`: the public entry point (`SandboxConfig`, `create_app`, `run_in_thread`)
- `sandbox.command`: the click command `sandbox_command`
- `sandbox.app`: the Starlette app and its routes
- `sandbox.contract`: the payload checks (the committed JSON Schema plus team members;
  prospect-list bodies and the canonical profile URL)
- `sandbox.prospects`: prospect lists: which campaign may have one, where each URL goes
- `sandbox.faults`: latency and fault draws; what a client sees of each fault
- `sandbox.ratelimit`: a token bucket per API key on an injected clock
- `sandbox.state`: campaigns (memory, optionally SQLite) and counters
- `sandbox.lists`: prospect lists and the account's month (beside the campaigns)
- `sandbox.config`: `SandboxConfig`, team members, fault kinds, prospect limits
"""
