"""Schemathesis hooks for Accrue's contract test (tests/e2e/contract.rs)."""
import schemathesis

# Plug-in uploads are raw WebAssembly bytes (`application/wasm`), sent as they are.
schemathesis.serializer.alias("application/wasm", "application/octet-stream")
