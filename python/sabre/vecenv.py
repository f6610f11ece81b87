"""Vector environments with central batched inference (``sabre/vecenv.h``).

A Gymnasium-style vector API over sabre's vecenv, with no dependency on
gymnasium::

    env = sabre.VecEnv("cartpole", workers=2, envs_per_worker=8, backend="processes")
    obs, info = env.reset(seed=42)            # obs: (16, 4) float32, in place
    for _ in range(1000):
        actions = policy(obs)                 # one batched forward pass
        obs, reward, terminated, truncated, info = env.step(actions)
    env.close()

Async (EnvPool-style)::

    env.reset(seed=1)
    env.send(np.arange(env.num_envs), actions)   # every env once
    while training:
        ids = env.recv(batch=8)                   # the first 8 envs ready
        a = policy(env.observations[ids])         # rows of those envs
        env.send(ids, a)                          # actions for exactly those

Zero copy: ``observations``, ``final_observations``, ``actions``,
``rewards``, ``terminated``, ``truncated``, ``flags``, ``episode_returns``
and ``episode_lengths`` are numpy views of the shared arrays the workers
write in place (their ``.base`` keeps the mapping alive); ``reset`` and
``step`` return these views, not copies: copy what you keep across steps.
An observation or action whose struct has fields of one scalar type, packed,
is a plain array (CartPole: obs ``(N, 4)`` float32, actions ``(N,)`` int32);
otherwise a structured array with the schema's fields.

Auto-reset (SAME_STEP): when an episode ends, ``info["final_obs"]`` holds its
last observation, ``info["episode_return"]`` / ``["episode_length"]`` its
totals, and the returned observation already starts the next episode.

A worker process that dies is replaced; the step or recv that found it
still completes, emits :class:`WorkerReplacedWarning` with the C message
(worker, pid, signal, env ids) and sets ``info["worker_fault"]``; that
worker's envs come back flagged ``FLAG_FAULT`` (truncated, reward 0).
Other failures raise the status's exception (:class:`sabre.InvalidError`
for an env id out of range, :class:`sabre.RangeError` for a NaN action, ...).
cffi releases the GIL around every call, so other Python threads run while
``step``/``recv`` wait.
"""
from __future__ import annotations

import warnings
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from . import schema as _schema
from ._base import _Core, address, cstr, pystr, struct_dict, timeout_ns, view
from ._ffi import ffi, lib
from .errors import StateError, check
from .region import Region

FLAG_RESET = 1  #: the observation starts an episode
FLAG_FAULT = 2  #: the env was reset because its worker process died

BACKENDS = {"threads": 0, "processes": 1}


class WorkerReplacedWarning(RuntimeWarning):
    """A worker process died and was replaced (the call still completed)."""


def _flat_dtype(layout: _schema.Layout) -> Optional[Tuple[np.dtype, int]]:
    """(scalar dtype, count) if the struct is `count` packed scalars of one type."""
    cols = layout.columns
    if not cols:
        return None
    dt = cols[0].dtype
    for i, c in enumerate(cols):
        if c.dtype != dt or c.offset != i * dt.itemsize:
            return None
    if len(cols) * dt.itemsize != layout.size:
        return None
    return dt, len(cols)


class VecEnv:
    """N workers (threads or processes) x E envs stepped for one policy.

    ``env`` is ``"cartpole"`` (gymnasium CartPole-v1) or ``"null"`` (a
    near-free env that echoes its action; ``config`` = dict with
    ``horizon``, ``cost_min_ns``, ``cost_max_ns``).  ``region``: an optional
    :class:`sabre.Region` to hold the object (so ``sabre inspect`` sees it);
    worker processes need a memfd, shm or file backing.
    """

    def __init__(
        self,
        env: str = "cartpole",
        workers: int = 1,
        envs_per_worker: int = 8,
        backend: str = "threads",
        region: Optional[Region] = None,
        name: Optional[str] = None,
        spin_ns: int = 0,
        config: Optional[Dict[str, int]] = None,
        obs_schema: Optional[str] = None,
        action_schema: Optional[str] = None,
    ) -> None:
        if env == "cartpole":
            cls = lib.sabre_env_cartpole()
        elif env == "null":
            cls = lib.sabre_env_null()
        else:
            raise ValueError("sabre.VecEnv: env is %r, want 'cartpole' or 'null'" % (env,))
        if backend not in BACKENDS:
            raise ValueError("sabre.VecEnv: backend is %r, want 'threads' or 'processes'" % (backend,))
        self._keep = []  # C memory the descriptor points at
        cfg = ffi.NULL
        if config is not None:
            cfg = ffi.new("sabre_env_null_config_t *", config)
            self._keep.append(cfg)
        desc = ffi.new("sabre_vecenv_desc_t *")
        desc.env = cls
        desc.env_config = cfg
        desc.workers = workers
        desc.envs_per_worker = envs_per_worker
        desc.backend = BACKENDS[backend]
        desc.spin_ns = spin_ns
        if region is None:
            # A region of our own, so the arrays' memory outlives close():
            # numpy views keep the region (not the vecenv) alive.
            obs = _schema.Schema(ffi.string(cls.obs_schema).decode()).root.size
            act = _schema.Schema(ffi.string(cls.action_schema).decode()).root.size
            n, cap = workers * envs_per_worker, 2 * (envs_per_worker + 1)
            size = (1 << 20) + n * (2 * obs + act + 128) + workers * (512 + 8 * cap)
            region = Region.create(size, "memfd" if backend == "processes" else "private", max_objects=8)
        desc.region = region._ptr()
        parent = region._core
        for field, text in (("name", name), ("obs_schema", obs_schema), ("action_schema", action_schema)):
            if text is not None:
                c = cstr(text)
                self._keep.append(c)
                setattr(desc, field, c)
        out = ffi.new("sabre_vecenv_t **")
        check(lib.sabre_vecenv_create(desc, out))
        self._core = _Core(out[0], lib.sabre_vecenv_close, parent, "vecenv")
        self._region = region
        ptr = out[0]
        self.env = env
        self.backend = backend
        self.num_workers = workers
        self.num_envs = int(lib.sabre_vecenv_envs(ptr))
        # Layout objects copy what they describe (name, size, columns, dtype).
        self.obs_layout = _schema.Layout(self._core, lib.sabre_vecenv_obs_layout(ptr))
        self.action_layout = _schema.Layout(self._core, lib.sabre_vecenv_action_layout(ptr))
        a = ffi.new("sabre_vecenv_arrays_t *")
        check(lib.sabre_vecenv_arrays(ptr, a))
        n = self.num_envs
        mem = region._core  # the owner of every view's memory
        self._mem = mem
        self.observations = self._rows(a.obs, self.obs_layout)
        self.final_observations = self._rows(a.final_obs, self.obs_layout)
        self.actions = self._rows(a.actions, self.action_layout)
        self.rewards = view(mem, address(a.rewards), np.float32, (n,))
        self.terminated = view(mem, address(a.terminated), np.bool_, (n,))
        self.truncated = view(mem, address(a.truncated), np.bool_, (n,))
        self.flags = view(mem, address(a.flags), np.uint8, (n,))
        self.episode_returns = view(mem, address(a.episode_return), np.float32, (n,))
        self.episode_lengths = view(mem, address(a.episode_length), np.uint32, (n,))
        self._ids = ffi.new("uint32_t[]", n)
        self._n = ffi.new("uint32_t *")

    def _rows(self, cdata: Any, layout: _schema.Layout) -> np.ndarray:
        flat = _flat_dtype(layout)
        if flat is None:
            return view(self._mem, address(cdata), layout.dtype, (self.num_envs,))
        dt, count = flat
        shape = (self.num_envs,) if count == 1 else (self.num_envs, count)
        return view(self._mem, address(cdata), dt, shape)

    def _ptr(self) -> Any:
        if self._core is None:
            raise StateError("vecenv: the handle is closed", lib.SABRE_ESTATE, "SABRE_ESTATE")
        return self._core.get()

    def _call(self, rc: int) -> Optional[str]:
        """Raise for a failure; for SABRE_EPEER (completed, a worker was
        replaced) warn and return the message."""
        if rc == lib.SABRE_EPEER:
            msg = ffi.string(lib.sabre_last_error()).decode("utf-8", "replace")
            warnings.warn(msg, WorkerReplacedWarning, stacklevel=3)
            return msg
        check(rc)
        return None

    def _info(self, fault: Optional[str]) -> Dict[str, Any]:
        info: Dict[str, Any] = {
            "final_obs": self.final_observations,
            "episode_return": self.episode_returns,
            "episode_length": self.episode_lengths,
            "flags": self.flags,
            "_final_obs": self.terminated | self.truncated,
        }
        if fault is not None:
            info["worker_fault"] = fault
        return info

    # ---- Gymnasium-style sync API -------------------------------------------

    def reset(self, seed: Optional[int] = None, timeout: Optional[float] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """Reset every env (env i's episode k uses ``vecenv_seed(seed, i, k)``)."""
        s = 0 if seed is None else int(seed) & ((1 << 64) - 1)
        fault = self._call(lib.sabre_vecenv_reset(self._ptr(), s, timeout_ns(timeout)))
        return self.observations, self._info(fault)

    def step(self, actions: Any = None, timeout: Optional[float] = None):
        """Write ``actions`` (if given) into the action rows and step every env.
        Returns ``(obs, reward, terminated, truncated, info)`` (views)."""
        if actions is not None:
            self.actions[...] = actions
        fault = self._call(lib.sabre_vecenv_step(self._ptr(), timeout_ns(timeout)))
        return self.observations, self.rewards, self.terminated, self.truncated, self._info(fault)

    # ---- async API -----------------------------------------------------------

    def send(self, ids: Sequence[int], actions: Any = None) -> None:
        """Step envs ``ids`` (each held by the policy, once) with their action
        rows; ``actions`` (one row per id) is written first if given."""
        idx = np.ascontiguousarray(np.asarray(ids, dtype=np.int64))
        if idx.ndim != 1:
            raise ValueError("sabre.VecEnv.send: ids must be one-dimensional")
        if idx.size and (idx.min() < 0 or idx.max() >= 1 << 32):
            bad = int(idx.min() if idx.min() < 0 else idx.max())
            raise ValueError("sabre.VecEnv.send: env id %d is out of range, want 0..%d" % (bad, self.num_envs - 1))
        if actions is not None:
            if idx.size and idx.max() >= self.num_envs:
                raise ValueError(
                    "sabre.VecEnv.send: env id %d is out of range, want 0..%d" % (int(idx.max()), self.num_envs - 1)
                )
            self.actions[idx] = actions
        buf = ffi.new("uint32_t[]", max(1, idx.size))
        ffi.memmove(buf, idx.astype(np.uint32).tobytes(), 4 * idx.size)
        check(lib.sabre_vecenv_send(self._ptr(), buf, idx.size))

    def recv(self, batch: int, timeout: Optional[float] = None) -> np.ndarray:
        """Wait for ``batch`` envs with results; their ids (a new uint32 array).
        Read their rows with ``observations[ids]`` etc.  A timed-out recv
        returns the envs already taken (fewer); with none it raises
        :class:`sabre.TimedOutError` (timeout 0: :class:`sabre.AgainError`)."""
        rc = lib.sabre_vecenv_recv(self._ptr(), batch, self._ids, self._n, timeout_ns(timeout))
        self.last_fault = self._call(rc)
        n = self._n[0]
        return np.frombuffer(ffi.buffer(self._ids, 4 * n), dtype=np.uint32).copy()

    # ---- inspection and lifetime --------------------------------------------

    def stats(self) -> Dict[str, int]:
        st = ffi.new("sabre_vecenv_stats_t *")
        check(lib.sabre_vecenv_stats(self._ptr(), st))
        return struct_dict(st)

    def worker_pid(self, worker: int) -> int:
        """Pid of worker process ``worker`` (0 for threads)."""
        return int(lib.sabre_vecenv_worker_pid(self._ptr(), worker))

    @property
    def name(self) -> str:
        return pystr(lib.sabre_vecenv_name(self._ptr()))

    def close(self) -> None:
        """Stop the workers and free the C handle.  Arrays already handed out
        stay readable: their memory is the region's, mapped while they live."""
        if self._core is not None:
            self._core.free()
            self._core = None  # type: ignore[assignment]

    @property
    def closed(self) -> bool:
        return self._core is None or not self._core.alive

    def __enter__(self) -> "VecEnv":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<sabre.VecEnv %s %s %d x %d>" % (
            self.env, self.backend, self.num_workers, self.num_envs // max(1, self.num_workers))


def vecenv_seed(seed: int, env: int, episode: int) -> int:
    """Seed of env ``env``'s episode ``episode`` after ``reset(seed)``."""
    return int(lib.sabre_vecenv_seed(seed & ((1 << 64) - 1), env, episode))
