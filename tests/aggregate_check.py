"""End-to-end checks of `attnscope aggregate` and `attnscope merge` against numpy.

usage: aggregate_check.py ATTNSCOPE [MPIRUN]
       aggregate_check.py --seed001 ATTNSCOPE EXAMPLE_OUT DATA_DIR

Builds dumps of varying length and batch size (softmax rows, right padding in key-length and
attention-mask sidecars) and checks:
  - head_<metric>_mean/_std.npy against numpy: mean and sample std (ddof=1) over prompts of each
    prompt's per-(layer, head) mean over its valid rows (entropy, max weight, sink mass);
  - merge: accumulators of separate runs give the same numbers within 1e-12 whatever the grouping,
    and a fixed order gives bit-identical files;
  - a bad file in the middle of a group: exit 1, one line naming the file, no OUT;
  - layers that differ within a group: one line naming the file;
  - with MPIRUN: mpirun -np 1, 2, 3 write bit-identical files, and a bad file fails the job cleanly
    with the line one process prints (the error comes from rank 1).
With --seed001: `attnscope aggregate --manifest DATA_DIR/seed001_tasks.json` and the seed 001
example's figure data (EXAMPLE_OUT, written by examples/seed001_task_grids) agree within 1e-12:
mean and std over prompts of entropy and of the mass on <s> (sink_mass), per task.
"""
import filecmp
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

SEED001 = sys.argv[1] == "--seed001"
CLI = sys.argv[2] if SEED001 else sys.argv[1]
MPIRUN = sys.argv[2] if not SEED001 and len(sys.argv) > 2 and sys.argv[2] else None
L, H = 3, 2
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(args, mpi=None):
    cmd = ([MPIRUN, "-np", str(mpi), "--oversubscribe", "--allow-run-as-root", CLI] if mpi else [CLI]) + args
    return subprocess.run(cmd, capture_output=True, text=True)


def softmax_dump(rng, B, T, lengths):
    """[B, L, H, T, T] causal softmax rows; keys and queries past an example's length are zero."""
    x = rng.normal(size=(B, L, H, T, T)) * 2.0
    a = np.zeros_like(x)
    for b in range(B):
        n = lengths[b]
        for q in range(n):
            z = x[b, :, :, q, : q + 1]
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            a[b, :, :, q, : q + 1] = e / e.sum(axis=-1, keepdims=True)
    return a.astype(np.float32)


def prompt_grids(a, lengths):
    """Per prompt: {metric: [L, H] mean over its valid rows}, from float64 copies."""
    out = []
    for b in range(a.shape[0]):
        n = lengths[b]
        ent = np.zeros((L, H, n))
        mx = np.zeros((L, H, n))
        sink = np.zeros((L, H, n))
        for q in range(n):
            p = a[b, :, :, q, : q + 1].astype(np.float64)
            p = p / p.sum(axis=-1, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                ent[:, :, q] = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=-1)
            mx[:, :, q] = p.max(axis=-1)
            sink[:, :, q] = p[:, :, 0]
        out.append({"entropy": ent.mean(-1), "max_weight": mx.mean(-1), "sink_mass": sink.mean(-1)})
    return out


def seed001(example_out, data):
    """The seed 001 example against the command on the same task manifest."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "seed001")
        r = run(["aggregate", "--manifest", os.path.join(data, "seed001_tasks.json"), "-o", out, "--causal", "-m",
                 "entropy,sink_mass", "--no-progress"])
        check(r.returncode == 0, f"aggregate on the seed 001 manifest: {r.stderr}")
        if r.returncode != 0:
            return
        tasks = list(json.load(open(os.path.join(data, "seed001_tasks.json"))))
        for stem, metric in (("task_entropy", "entropy"), ("task_bos_mass", "sink_mass")):
            for i, task in enumerate(tasks):
                side = json.load(open(os.path.join(example_out, f"{stem}_p{i}.sidecar.json")))
                check(side["provenance"]["task"] == task, f"{stem} panel {i} is {side['provenance']['task']}, want {task}")
                for kind, suffix in (("mean", ""), ("std", "_std")):
                    ours = np.load(os.path.join(example_out, f"{stem}_p{i}{suffix}.npy"))
                    cmd = np.load(os.path.join(out, task, f"head_{metric}_{kind}.npy"))
                    check(ours.shape == cmd.shape and np.allclose(ours, cmd, rtol=1e-12, atol=1e-15),
                          f"{task} {metric} {kind}: the example {ours.ravel()[:4]} vs aggregate {cmd.ravel()[:4]}")
        summary = json.load(open(os.path.join(out, "summary.json")))
        check(set(summary["groups"]) == set(tasks), f"every task is a group: {list(summary['groups'])}")


if SEED001:
    seed001(sys.argv[3], sys.argv[4])
    print(f"{len(failures)} check(s) failed" if failures else "seed 001 example and attnscope aggregate agree")
    sys.exit(1 if failures else 0)

with tempfile.TemporaryDirectory() as tmp:
    rng = np.random.default_rng(15)
    groups = {"alpha": [], "beta": []}
    expected = {"alpha": [], "beta": []}
    specs = {"alpha": [(1, 9, None), (2, 14, "lengths"), (3, 11, "mask"), (1, 20, None)],
             "beta": [(2, 7, "meta"), (1, 16, None), (1, 5, None)]}
    for g, files in specs.items():
        os.makedirs(os.path.join(tmp, "in", g))
        for i, (B, T, pad) in enumerate(files):
            lengths = [T] * B if pad is None else [T - (b * 3) % (T - 2) for b in range(B)]
            a = softmax_dump(rng, B, T, lengths)
            base = os.path.join(tmp, "in", g, f"d{i}")
            np.save(base + ".npy", a if B > 1 or i % 2 else a[0])  # rank 4 and rank 5 dumps
            if pad == "lengths":
                json.dump(lengths, open(base + ".key_lengths.json", "w"))
            elif pad == "mask":
                m = np.zeros((B, T), np.int64)
                for b, n in enumerate(lengths):
                    m[b, :n] = 1
                np.save(base + ".attention_mask.npy", m)
            elif pad == "meta":
                json.dump({"key_lengths": lengths, "note": "metadata"}, open(base + ".json", "w"))
            expected[g] += prompt_grids(a, lengths)
            groups[g].append(base + ".npy")

    # numpy references: mean and sample std over prompts
    out = os.path.join(tmp, "out")
    r = run(["aggregate", os.path.join(tmp, "in", "alpha"), os.path.join(tmp, "in", "beta"), "-o", out, "--causal", "-m",
             "entropy,max_weight,sink_mass"])
    check(r.returncode == 0, f"aggregate failed: {r.stderr}")
    for g in groups:
        for m in ("entropy", "max_weight", "sink_mass"):
            vals = np.stack([p[m] for p in expected[g]])
            mean = np.load(os.path.join(out, g, f"head_{m}_mean.npy"))
            std = np.load(os.path.join(out, g, f"head_{m}_std.npy"))
            count = np.load(os.path.join(out, g, f"head_{m}_count.npy"))
            check(mean.shape == (L, H) and mean.dtype == np.float64, f"{g}/{m} mean shape {mean.shape} {mean.dtype}")
            check(np.allclose(mean, vals.mean(0), rtol=1e-6, atol=1e-9), f"{g}/{m} mean {mean} vs {vals.mean(0)}")
            check(np.allclose(std, vals.std(0, ddof=1), rtol=1e-5, atol=1e-9), f"{g}/{m} std {std} vs {vals.std(0, ddof=1)}")
            check(np.all(count == len(vals)), f"{g}/{m} count {count} vs {len(vals)}")
    summary = json.load(open(os.path.join(out, "summary.json")))
    check(summary["groups"]["alpha"]["prompts"] == len(expected["alpha"]), "summary prompt count")
    check(os.path.exists(os.path.join(out, "groups_entropy.svg")), "the per-metric figure")
    written = sorted(os.path.relpath(os.path.join(d, n), out) for d, _, ns in os.walk(out) for n in ns)
    check(written == sorted(summary["files"]), f"summary.json lists every file written: {set(written) ^ set(summary['files'])}")
    html = open(os.path.join(out, "report.html"), encoding="utf-8").read()
    page = json.loads(html.split('id="attnscope-data">', 1)[1].split("</script>", 1)[0])
    check(page["example_axis"] == "group" and page["examples"] == list(groups), f"report.html groups {page['examples']}")
    e = next(g for g in page["grids"] if g["name"] == "entropy")
    std_page = np.array([np.nan if v is None else v for v in e["on_hover"][0]["values"]]).reshape(e["shape"])
    check(np.array_equal(std_page[1], np.load(os.path.join(out, "beta", "head_entropy_std.npy")), equal_nan=True),
          "report.html: the std on hover is the group's head_entropy_std.npy")

    # merge: separate jobs, any grouping within 1e-12, fixed order bit-identical
    parts = []
    for k, f in enumerate(groups["alpha"]):
        d = os.path.join(tmp, f"part{k}", "alpha")
        os.makedirs(d)
        os.symlink(f, os.path.join(d, os.path.basename(f)))
        for side in (".key_lengths.json", ".attention_mask.npy"):
            if os.path.exists(f[:-4] + side):
                os.symlink(f[:-4] + side, os.path.join(d, os.path.basename(f)[:-4] + side))
        o = os.path.join(tmp, f"part{k}_out")
        r = run(["aggregate", d, "-o", o, "--causal", "-m", "entropy,max_weight,sink_mass"])
        check(r.returncode == 0, f"part {k}: {r.stderr}")
        parts.append(os.path.join(o, "alpha", "alpha.accum"))
    r1 = run(["merge"] + parts + ["-o", os.path.join(tmp, "m1")])
    r2 = run(["merge"] + parts + ["-o", os.path.join(tmp, "m2")])
    check(r1.returncode == 0 and r2.returncode == 0, f"merge failed: {r1.stderr} {r2.stderr}")
    check(os.path.exists(os.path.join(tmp, "m1", "report.html")), "merge writes report.html")
    check(filecmp.cmp(os.path.join(tmp, "m1", "alpha", "head_entropy_std.npy"), os.path.join(tmp, "m2", "alpha", "head_entropy_std.npy"),
                      shallow=False), "merge in a fixed order is bit-identical")
    # ((p0 p1) (p2 p3)) against (p0 (p1 (p2 p3)))
    r = run(["merge", parts[0], parts[1], "-o", os.path.join(tmp, "m01")])
    r = run(["merge", parts[2], parts[3], "-o", os.path.join(tmp, "m23")])
    r = run(["merge", os.path.join(tmp, "m01", "alpha", "alpha.accum"), os.path.join(tmp, "m23", "alpha", "alpha.accum"), "-o",
             os.path.join(tmp, "mtree")])
    r = run(["merge", parts[1], os.path.join(tmp, "m23", "alpha", "alpha.accum"), "-o", os.path.join(tmp, "m123")])
    r = run(["merge", parts[0], os.path.join(tmp, "m123", "alpha", "alpha.accum"), "-o", os.path.join(tmp, "mright")])
    check(r.returncode == 0, f"merge chain failed: {r.stderr}")
    for m in ("entropy", "max_weight", "sink_mass"):
        for stat in ("mean", "std"):
            a = np.load(os.path.join(tmp, "mtree", "alpha", f"head_{m}_{stat}.npy"))
            b = np.load(os.path.join(tmp, "mright", "alpha", f"head_{m}_{stat}.npy"))
            c = np.load(os.path.join(out, "alpha", f"head_{m}_{stat}.npy"))
            check(np.allclose(a, b, rtol=1e-12, atol=0) and np.allclose(a, c, rtol=1e-12, atol=0), f"merge associativity {m} {stat}")
    r = run(["merge", parts[0], os.path.join(tmp, "in", "alpha", "d0.npy"), "-o", os.path.join(tmp, "mbad")])
    check(r.returncode == 1 and r.stderr.count("\n") == 1 and "d0.npy" in r.stderr and not os.path.exists(os.path.join(tmp, "mbad")),
          f"merge of a non-accumulator: {r.stderr}")

    # a bad file in the middle of a group
    bad = os.path.join(tmp, "in_bad", "alpha")
    os.makedirs(bad)
    for k, f in enumerate(sorted(groups["alpha"])[:3]):
        os.symlink(f, os.path.join(bad, f"f{k}.npy"))
    os.remove(os.path.join(bad, "f1.npy"))  # a truncated npy between good ones
    with open(os.path.join(bad, "f1.npy"), "wb") as fh:
        fh.write(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'")
    r = run(["aggregate", bad, "-o", os.path.join(tmp, "out_bad"), "--causal"])
    check(r.returncode == 1, "bad file: status")
    bad_line = (f"attnscope: error: npy file '{os.path.join(bad, 'f1.npy')}': header length: npy header length 16 runs past "
                "the end of the file (15 bytes follow the length field) (at byte 8)")
    check(r.stderr == bad_line + "\n", f"bad file: one line naming it, word for word: {r.stderr!r}")
    check(not os.path.exists(os.path.join(tmp, "out_bad")), "bad file: no output")
    check(not any(".tmp." in n for n in os.listdir(tmp)), "bad file: no staging leftovers")

    # layers that differ within a group
    mixed = os.path.join(tmp, "in_mixed", "mixed")
    os.makedirs(mixed)
    os.symlink(groups["beta"][1], os.path.join(mixed, "a.npy"))
    np.save(os.path.join(mixed, "b.npy"), softmax_dump(rng, 1, 6, [6])[0, :2])
    r = run(["aggregate", mixed, "-o", os.path.join(tmp, "out_mixed"), "--causal"])
    check(r.returncode == 1 and "b.npy" in r.stderr and "layers" in r.stderr and r.stderr.count("\n") == 1,
          f"layer mismatch: {r.stderr!r}")

    # a key-lengths sidecar that does not fit its dump: the message names the sidecar, not an option
    kl = os.path.join(tmp, "in_kl", "kl")
    os.makedirs(kl)
    np.save(os.path.join(kl, "d.npy"), softmax_dump(rng, 2, 6, [6, 6]))
    with open(os.path.join(kl, "d.key_lengths.json"), "w") as f:
        f.write("[6, 9]")
    r = run(["aggregate", kl, "-o", os.path.join(tmp, "out_kl"), "--causal"])
    check(r.returncode == 1 and f"key-lengths sidecar {os.path.join(kl, 'd.key_lengths.json')}: length 9 of example 1 exceeds the 6 keys"
          in r.stderr and "option --key-lengths" not in r.stderr, f"sidecar lengths: {r.stderr!r}")

    # queries/keys dumps (npz with queries [B, L, H, T, d] and keys [B, L, Hkv, T, d]): the rows are
    # causal softmax(q k^T / sqrt(d)); prompts of two lengths in one group
    qk_dir = os.path.join(tmp, "in_qk", "qk")
    os.makedirs(qk_dir)
    qk_prompts = []
    for i, (B, T) in enumerate([(2, 6), (1, 9)]):
        q = rng.normal(size=(B, L, H, T, 4)).astype(np.float32)
        k = rng.normal(size=(B, L, 1, T, 4)).astype(np.float32)
        np.savez(os.path.join(qk_dir, f"p{i}.npz"), queries=q, keys=k)
        s = np.einsum("blhqd,blkd->blhqk", q.astype(np.float64), k[:, :, 0].astype(np.float64)) / 2.0
        s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        qk_prompts += prompt_grids(a, [T] * B)
    r = run(["aggregate", qk_dir, "-o", os.path.join(tmp, "out_qk"), "--causal", "-m", "entropy,max_weight"])
    check(r.returncode == 0, f"aggregate on queries/keys dumps: {r.stderr}")
    if r.returncode == 0:
        for m in ("entropy", "max_weight"):
            vals = np.stack([p[m] for p in qk_prompts])
            mean = np.load(os.path.join(tmp, "out_qk", "qk", f"head_{m}_mean.npy"))
            std = np.load(os.path.join(tmp, "out_qk", "qk", f"head_{m}_std.npy"))
            check(np.allclose(mean, vals.mean(0), rtol=1e-5, atol=1e-6), f"qk {m} mean {mean} vs {vals.mean(0)}")
            check(np.allclose(std, vals.std(0, ddof=1), rtol=1e-4, atol=1e-6), f"qk {m} std")

    # MPI: 1, 2 and 3 ranks write the same bits as one process
    if MPIRUN:
        ins = [os.path.join(tmp, "in", "alpha"), os.path.join(tmp, "in", "beta")]
        for n in (1, 2, 3):
            o = os.path.join(tmp, f"mpi{n}")
            r = run(["aggregate"] + ins + ["-o", o, "--causal"], mpi=n)
            check(r.returncode == 0, f"mpirun -np {n}: {r.stderr}")
            if n > 1:
                cmp = filecmp.dircmp(os.path.join(tmp, "mpi1"), o)
                diffs = []

                def walk(c):
                    diffs.extend(c.diff_files + c.left_only + c.right_only + c.funny_files)
                    for s in c.subdirs.values():
                        walk(s)

                walk(cmp)
                # dircmp compares shallowly by stat; compare every file's bytes
                for root, _, names in os.walk(os.path.join(tmp, "mpi1")):
                    for name in names:
                        p1 = os.path.join(root, name)
                        p2 = os.path.join(o, os.path.relpath(p1, os.path.join(tmp, "mpi1")))
                        if not os.path.exists(p2) or not filecmp.cmp(p1, p2, shallow=False):
                            diffs.append(p2)
                check(not diffs, f"mpirun -np {n} differs from -np 1: {diffs[:5]}")
        r = run(["aggregate", bad, "-o", os.path.join(tmp, "mpi_bad"), "--causal"], mpi=3)
        lines = [l for l in r.stderr.splitlines() if l.startswith("attnscope:")]
        # f1 is rank 1's file: rank 0 prints the line rank 1 composed, the same as one process prints
        check(r.returncode != 0 and lines == [bad_line], f"mpirun with a bad file: {r.stderr!r}")
        check(not os.path.exists(os.path.join(tmp, "mpi_bad")), "mpirun with a bad file: no output")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("aggregate checks passed")
