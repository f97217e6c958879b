"""jp2040.malloc: keep_freed_memory (called by the command line, not on import) keeps freed
memory, so XLA:CPU's big temporaries stop page faulting on every call (the reason it exists), and
JP2040_MALLOC=default turns it off. Importing engine changes nothing process-wide."""

import json
import os
import subprocess
import sys

import pytest

PROBE = r"""
import json, resource
import engine, jp2040.malloc as m
m.keep_freed_memory()  # before JAX starts its CPU client, as the command line does
import jax, jax.numpy as jnp

@jax.jit
def f(x):  # ~100 MB of temporaries per call
    y = jax.lax.optimization_barrier(jnp.exp(x[:, None] * jnp.arange(1.0, 9.0)))
    return jnp.sum(jnp.sin(y) * y)

x = jnp.linspace(0.0, 1.0, 3_000_000)
for _ in range(10):  # the heap settles (with the settings it can take a few calls)
    f(x).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    f(x).block_until_ready()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
print(json.dumps({"applied": m.keep_freed_memory(), "faults": faults}))
"""


def _probe(setting: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "JP2040_MALLOC"}
    env["JAX_PLATFORMS"] = "cpu"
    if setting is not None:
        env["JP2040_MALLOC"] = setting
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings")
def test_import_keeps_freed_memory_and_the_switch_turns_it_off():
    tuned, default = _probe(None), _probe("default")
    assert tuned["applied"] is True
    assert default["applied"] is False
    # ~100 MB of temporaries is ~23,000 pages a call with glibc's defaults; with the settings
    # most calls fault nothing once the heap has settled
    assert default["faults"] > 10_000, default
    assert tuned["faults"] < default["faults"] / 4, (tuned, default)


def test_import_has_no_process_wide_side_effects():
    code = (
        "import engine, jp2040.malloc as m, jax; "
        "from engine import compose; compose([]); "
        "print(m._applied, jax.config.jax_enable_x64)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[0] == "None"  # mallopt not called


def test_unknown_switch_value_is_an_error_naming_it(tmp_path):
    env = {**os.environ, "JP2040_MALLOC": "off", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-m", "jp2040", f"hydra.run.dir={tmp_path}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "JP2040_MALLOC: unknown value 'off' (valid: engine, default)" in out.stderr
    assert "Traceback" not in out.stderr
