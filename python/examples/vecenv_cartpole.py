"""Train CartPole through sabre.VecEnv with central batched inference (numpy).

The Python twin of examples/vecenv_train.h: a 4-32-1 MLP (tanh) evaluated on
the whole (N, 4) observation view at once, actions written straight into the
shared action rows, whole-episode REINFORCE with Adam in batches of 8
episodes.  Solved: mean return of the last 100 training episodes >= 475, then
a greedy evaluation over 100 episodes >= 475.

    /usr/bin/python3 python/examples/vecenv_cartpole.py [threads|processes] [seed]
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import sabre  # noqa: E402

H, GAMMA, LR, BATCH_EPISODES, MAX_T = 32, 0.99, 0.01, 8, 500


class Net:
    def __init__(self, rng):
        self.p = {
            "W1": rng.uniform(-0.5, 0.5, (H, 4)),
            "b1": np.zeros(H),
            "w2": rng.uniform(-0.1, 0.1, H),
            "b2": np.zeros(1),
        }
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.t = 0

    def forward(self, obs):
        h = np.tanh(obs @ self.p["W1"].T + self.p["b1"])
        z = h @ self.p["w2"] + self.p["b2"][0]
        return 1.0 / (1.0 + np.exp(-z)), h

    def update(self, obs, act, adv):
        """One Adam step on mean(-adv * log pi(act | obs))."""
        p, h = self.forward(obs)
        dz = -adv * (act - p) / len(adv)
        da = np.outer(dz, self.p["w2"]) * (1 - h * h)
        g = {"W1": da.T @ obs, "b1": da.sum(0), "w2": h.T @ dz, "b2": np.array([dz.sum()])}
        self.t += 1
        for k in self.p:
            self.m[k] = 0.9 * self.m[k] + 0.1 * g[k]
            self.v[k] = 0.999 * self.v[k] + 0.001 * g[k] * g[k]
            mh, vh = self.m[k] / (1 - 0.9**self.t), self.v[k] / (1 - 0.999**self.t)
            self.p[k] -= LR * mh / (np.sqrt(vh) + 1e-8)


def greedy(env, net, seed):
    """Each env plays ceil(100 / N) episodes; the first 100 in env order count."""
    n = env.num_envs
    per = -(-100 // n)
    rets = [[] for _ in range(n)]
    obs, _ = env.reset(seed=seed)
    while min(len(r) for r in rets) < per:
        p, _ = net.forward(obs.astype(np.float64))
        obs, rew, term, trunc, info = env.step((p > 0.5).astype(np.int32))
        for i in np.flatnonzero(term | trunc):
            if len(rets[i]) < per:
                rets[i].append(float(info["episode_return"][i]))
    flat = [r for env_rets in rets for r in env_rets][:100]
    return float(np.mean(flat))


def train(backend="threads", seed=1, workers=2, envs_per_worker=8, max_episodes=20000, log=print):
    rng = np.random.default_rng(seed)
    net = Net(rng)
    t0 = time.monotonic()
    with sabre.VecEnv("cartpole", workers=workers, envs_per_worker=envs_per_worker, backend=backend) as env:
        n = env.num_envs
        traj_obs = [[] for _ in range(n)]
        traj_act = [[] for _ in range(n)]
        batch = []
        returns = []
        obs, _ = env.reset(seed=seed)
        while len(returns) < max_episodes:
            o = obs.astype(np.float64)  # the shared rows, read in place
            p, _ = net.forward(o)
            act = (rng.random(n) < p).astype(np.int32)
            for i in range(n):
                traj_obs[i].append(o[i])
                traj_act[i].append(act[i])
            obs, rew, term, trunc, info = env.step(act)  # written into the shared action rows
            for i in np.flatnonzero(term | trunc):
                batch.append((np.array(traj_obs[i]), np.array(traj_act[i], dtype=np.float64)))
                traj_obs[i], traj_act[i] = [], []
                returns.append(float(info["episode_return"][i]))
                if log and len(returns) % 100 == 0:
                    log("  episode %5d: mean return of the last 100 %.1f" % (len(returns), np.mean(returns[-100:])))
            if len(batch) >= BATCH_EPISODES:
                obs_b = np.concatenate([b[0] for b in batch])
                act_b = np.concatenate([b[1] for b in batch])
                g = []
                for b in batch:
                    ret, acc = np.empty(len(b[1])), 0.0
                    for t in range(len(b[1]) - 1, -1, -1):
                        acc = 1.0 + GAMMA * acc
                        ret[t] = acc
                    g.append(ret)
                g = np.concatenate(g)
                net.update(obs_b, act_b, (g - g.mean()) / (g.std() + 1e-8))
                batch = []
            if len(returns) >= 100 and np.mean(returns[-100:]) >= 475:
                break
        mean100 = float(np.mean(returns[-100:])) if len(returns) >= 100 else 0.0
        greedy_mean = greedy(env, net, seed + 1000003) if mean100 >= 475 else 0.0
    return {
        "solved": mean100 >= 475 and greedy_mean >= 475,
        "episodes": len(returns),
        "mean100": mean100,
        "greedy_mean": greedy_mean,
        "seconds": time.monotonic() - t0,
    }


if __name__ == "__main__":
    backend = sys.argv[1] if len(sys.argv) > 1 else "threads"
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    r = train(backend, seed)
    print("%s after %d episodes in %.1f s: mean-100 %.1f, greedy %.1f"
          % ("solved" if r["solved"] else "NOT solved", r["episodes"], r["seconds"], r["mean100"], r["greedy_mean"]))
    sys.exit(0 if r["solved"] else 1)
