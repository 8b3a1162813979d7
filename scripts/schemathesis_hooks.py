"""Hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

tus PATCH bodies are `application/offset+octet-stream` (tus 1.0 requires that media type);
they are plain bytes, so they are sent as schemathesis sends application/octet-stream.
"""
import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
