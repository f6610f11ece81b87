"""The RL demo's learner in numpy: the algorithm of examples/rl/learner.h.

Rebuilds whole CartPole episodes from rollout chunks (per lane and env,
continued across chunks by the step index `t`), and once a batch of whole
episodes is complete trains the policy with PPO (clipped ratio against the
actors' logged log-probabilities, GAE advantages from a separate value
network, Adam).  The policy's parameters are one float32 array laid out as
examples/rl/cartpole.h reads it:  W1[H][4], b1[H], W2[2][H], b2[2].
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OBS, ACT, HIDDEN, MAX_STEPS = 4, 2, 64, 500
NPARAM = HIDDEN * OBS + HIDDEN + ACT * HIDDEN + ACT
RUNNING, TERMINATED, TRUNCATED = 0, 1, 2


@dataclass
class HParams:
    batch_steps: int = 2048
    epochs: int = 4
    minibatch: int = 256
    lr_pi: float = 3e-3
    lr_v: float = 3e-3
    clip: float = 0.2
    gamma: float = 0.99
    lam: float = 0.95
    max_grad_norm: float = 0.5


class Adam:
    def __init__(self, params: list[np.ndarray], lr: float):
        self.params, self.lr, self.t = params, lr, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray], max_norm: float = 0.0) -> None:
        if max_norm > 0:
            norm = float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads)))
            if norm > max_norm:
                grads = [g * np.float32(max_norm / norm) for g in grads]
        self.t += 1
        b1, b2 = 0.9, 0.999
        step = self.lr * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= np.float32(step) * m / (np.sqrt(v) + np.float32(1e-8))


@dataclass
class _Partial:
    parts: list = field(default_factory=list)  # (obs, act, logp, rew) slices
    length: int = 0


class Learner:
    """PPO on whole episodes for `slots` = lanes x envs."""

    def __init__(self, hp: HParams, slots: int, seed: int):
        self.hp = hp
        self.rng = np.random.default_rng(seed)
        b1, b2 = 1 / np.sqrt(OBS), 1 / np.sqrt(HIDDEN)
        u = lambda shape, b: self.rng.uniform(-b, b, shape).astype(np.float32)  # noqa: E731
        # policy: W1 (H,4), b1 (H), W2 (2,H), b2 (2); output layer scaled down
        self.pi = [u((HIDDEN, OBS), b1), u(HIDDEN, b1), 0.01 * u((ACT, HIDDEN), b2),
                   0.01 * u(ACT, b2)]
        self.vf = [u((HIDDEN, OBS), b1), u(HIDDEN, b1), u(HIDDEN, b2), u(1, b2)]
        self.opt_pi = Adam(self.pi, hp.lr_pi)
        self.opt_v = Adam(self.vf, hp.lr_v)
        self.slots = [_Partial() for _ in range(slots)]
        self.episodes: list[tuple] = []  # (obs, act, logp, rew, truncated)
        self.batch_steps = 0
        self.updates = 0

    # -- the policy as the actors read it -------------------------------------
    def flat_policy(self) -> np.ndarray:
        return np.concatenate([p.ravel() for p in self.pi]).astype(np.float32)

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        h = np.tanh(obs @ self.pi[0].T + self.pi[1])
        z = h @ self.pi[2].T + self.pi[3]
        return (z[:, 1] > z[:, 0]).astype(np.int64)

    # -- episodes ----------------------------------------------------------------
    def feed(self, slot0: int, obs, act, logp, rew, t, end) -> list[float]:
        """Feed one chunk of a lane: arrays shaped (T, E[, 4]); env e is slot
        slot0 + e.  Returns the returns of the episodes it completed."""
        done = []
        T, E = t.shape
        for e in range(E):
            te, ee = t[:, e], end[:, e]
            stops = np.flatnonzero(ee)
            a = 0
            for b in list(stops + 1) + ([T] if not len(stops) or stops[-1] != T - 1 else []):
                r = self._segment(slot0 + e, obs[a:b, e], act[a:b, e], logp[a:b, e],
                                  rew[a:b, e], te[a:b], int(ee[b - 1]))
                if r is not None:
                    done.append(r)
                a = b
        return done

    def _segment(self, slot, obs, act, logp, rew, t, end):
        p = self.slots[slot]
        n = len(t)
        first = int(t[0])
        if first != p.length or int(t[-1]) != first + n - 1:
            p.parts, p.length = [], 0  # a break: the actor was replaced
            if first != 0 or int(t[-1]) != n - 1:
                return None
        p.parts.append((obs, act, logp, rew))
        p.length += n
        if p.length > MAX_STEPS:
            p.parts, p.length = [], 0
            return None
        if end == RUNNING:
            return None
        ep = tuple(np.concatenate([x[i] for x in p.parts]) for i in range(4))
        p.parts, p.length = [], 0
        self.episodes.append(ep + (end == TRUNCATED,))
        self.batch_steps += len(ep[0])
        return float(ep[3].sum())

    def ready(self) -> bool:
        return self.batch_steps >= self.hp.batch_steps

    # -- training ----------------------------------------------------------------
    def _value(self, x):
        h = np.tanh(x @ self.vf[0].T + self.vf[1])
        return h @ self.vf[2] + self.vf[3][0], h

    def update(self) -> None:
        hp = self.hp
        eps = self.episodes
        obs = np.concatenate([e[0] for e in eps]).astype(np.float32)
        act = np.concatenate([e[1] for e in eps]).astype(np.int64)
        logp_old = np.concatenate([e[2] for e in eps]).astype(np.float32)
        rew = np.concatenate([e[3] for e in eps]).astype(np.float32)
        n = len(obs)
        val, _ = self._value(obs)
        # GAE over each whole episode, all episodes at once (a padded
        # matrix, time running backwards); a truncated episode bootstraps
        # from the value of its last observation
        lens = np.array([len(e[0]) for e in eps])
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        L = int(lens.max())
        idx = starts[:, None] + np.arange(L)[None, :]
        valid = np.arange(L)[None, :] < lens[:, None]
        idx = np.where(valid, idx, 0)
        V = np.where(valid, val[idx], 0.0)
        R = np.where(valid, rew[idx], 0.0)
        last = starts + lens - 1
        boot = np.where([e[4] for e in eps], val[last], 0.0)
        adv = np.zeros_like(V)
        a = np.zeros(len(eps), dtype=np.float32)
        for k in range(L - 1, -1, -1):
            nxt = np.where(k + 1 < lens, V[:, k + 1] if k + 1 < L else 0.0, boot)
            delta = R[:, k] + hp.gamma * nxt - V[:, k]
            a = np.where(k < lens, delta + hp.gamma * hp.lam * np.where(k + 1 < lens, a, 0.0), 0.0)
            adv[:, k] = a
        adv_flat = adv[valid].astype(np.float32)  # row-major: episode order, time order
        ret = adv_flat + val
        adv_n = (adv_flat - adv_flat.mean()) / (adv_flat.std() + 1e-8)

        W1, b1, W2, b2 = self.pi
        V1, c1, V2, c2 = self.vf
        for _ in range(hp.epochs):
            order = self.rng.permutation(n)
            for mb in range(0, n, hp.minibatch):
                ix = order[mb:mb + hp.minibatch]
                if len(ix) < hp.minibatch // 2 and mb > 0:
                    break
                m = len(ix)
                x, ac, A = obs[ix], act[ix], adv_n[ix]
                # policy
                h = np.tanh(x @ W1.T + b1)
                z = h @ W2.T + b2
                d = z[:, 1] - z[:, 0]
                lp1 = -np.logaddexp(0, -d)
                p1 = np.exp(lp1)
                lp = np.where(ac == 1, lp1, lp1 - d)
                ratio = np.exp(lp - logp_old[ix])
                clipped = ((A > 0) & (ratio > 1 + hp.clip)) | ((A < 0) & (ratio < 1 - hp.clip))
                g = np.where(clipped, 0.0, -ratio * A / m).astype(np.float32)
                gz1 = g * (ac - p1)
                gz = np.stack([-gz1, gz1], axis=1).astype(np.float32)
                gh = (gz @ W2) * (1 - h * h)
                self.opt_pi.step([gh.T @ x, gh.sum(0), gz.T @ h, gz.sum(0)], hp.max_grad_norm)
                # value
                hv = np.tanh(x @ V1.T + c1)
                v = hv @ V2 + c2[0]
                gv = ((v - ret[ix]) / m).astype(np.float32)
                ghv = np.outer(gv, V2) * (1 - hv * hv)
                self.opt_v.step([ghv.T @ x, ghv.sum(0), hv.T @ gv, np.array([gv.sum()],
                                                                              np.float32)])
        self.episodes, self.batch_steps = [], 0
        self.updates += 1


def evaluate(learner: Learner, episodes: int = 100, seed: int = 0) -> float:
    """Mean return of `episodes` greedy CartPole-v1 episodes, run together."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(-0.05, 0.05, (episodes, 4))
    alive = np.ones(episodes, bool)
    steps = np.zeros(episodes, np.int64)
    theta_max = 12 * 2 * np.pi / 360
    while alive.any():
        a = learner.greedy(s.astype(np.float32))
        s2 = cartpole_step(s, a)
        s = np.where(alive[:, None], s2, s)
        steps += alive
        fell = (np.abs(s[:, 0]) > 2.4) | (np.abs(s[:, 2]) > theta_max)
        alive &= ~fell & (steps < MAX_STEPS)
    return float(steps.mean())


def cartpole_step(s: np.ndarray, a: np.ndarray) -> np.ndarray:
    """gymnasium CartPole-v1 physics (Euler, tau 0.02), float64, vectorised."""
    g, mc, mp, l, tau = 9.8, 1.0, 0.1, 0.5, 0.02
    x, xd, th, thd = s.T
    f = np.where(a == 1, 10.0, -10.0)
    ct, st = np.cos(th), np.sin(th)
    tmp = (f + mp * l * thd * thd * st) / (mc + mp)
    tha = (g * st - ct * tmp) / (l * (4.0 / 3.0 - mp * ct * ct / (mc + mp)))
    xa = tmp - mp * l * tha * ct / (mc + mp)
    return np.stack([x + tau * xd, xd + tau * xa, th + tau * thd, thd + tau * tha], axis=1)
