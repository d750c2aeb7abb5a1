#!/usr/bin/env python3
"""test_interop.py: deltabench's files against the ecosystem's reference readers and writers.

- safetensors written by the reference library (Python `safetensors`) load in deltabench
  (`inspect` lists every name, dtype, shape and byte count);
- safetensors written by deltabench (`synth`, `decompress`) load in the reference library with
  the names, shapes, dtypes and values deltabench reports;
- HDF5 tables written by h5py export through deltabench (`export`) with identical values;
- HDF5 results written by deltabench (`trace gen`) read in h5py with the root attributes of the
  results schema and the same rows as deltabench's CSV output.

Exit 0 on success, 1 on a failed check, 77 (skip) when the reference packages are missing.
"""
import csv
import io
import os
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    from safetensors.numpy import load_file, save_file
except ImportError as e:  # the suite says why instead of failing on a missing package
    print(f"SKIP: interop tests need numpy, h5py and safetensors ({e}); run scripts/install-deps.sh")
    sys.exit(77)

DB = os.environ["DELTABENCH"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args, ok=True):
    p = subprocess.run([DB, *args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise SystemExit(f"FAIL: deltabench {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def parse_inspect(text):
    """tensor name -> (dtype, shape tuple, bytes) from `deltabench inspect` output."""
    rows, on = {}, False
    for line in text.splitlines():
        if line.startswith("tensor "):
            on = True
            continue
        if line.startswith("total:"):
            break
        if on and line.strip():
            name, rest = line.split(None, 1)
            dtype, rest = rest.split(None, 1)
            shape_txt, nbytes = rest.rsplit("]", 1)
            dims = shape_txt.strip().lstrip("[").strip()
            shape = tuple(int(d) for d in dims.split(",")) if dims else ()
            rows[name] = (dtype, shape, int(nbytes))
    return rows


NP_TO_ST = {np.float32: "F32", np.float16: "F16", np.float64: "F64", np.int8: "I8", np.uint8: "U8",
            np.int16: "I16", np.int32: "I32", np.int64: "I64", np.uint16: "U16", np.uint32: "U32",
            np.uint64: "U64", np.bool_: "BOOL"}


def test_reference_safetensors_load(tmp):
    rng = np.random.default_rng(1)
    tensors = {}
    for i, (dt, st) in enumerate(NP_TO_ST.items()):
        shape = [(3,), (2, 5), (4, 1, 3), (), (0, 7)][i % 5]
        a = rng.standard_normal(shape) * 100 if shape != () else np.array(rng.standard_normal() * 100)
        tensors[f"model.layers.{i}.t_{st.lower()}"] = a.astype(dt)
    path = os.path.join(tmp, "ref.safetensors")
    save_file(tensors, path, metadata={"format": "np", "note": "written by safetensors"})
    out = run("inspect", path).stdout
    got = parse_inspect(out)
    check(set(got) == set(tensors), f"inspect lists all {len(tensors)} tensors (got {len(got)})")
    for name, a in tensors.items():
        if name in got:
            dtype, shape, nbytes = got[name]
            check(dtype == NP_TO_ST[a.dtype.type], f"{name}: dtype {dtype}")
            check(shape == a.shape, f"{name}: shape {shape} vs {a.shape}")
            check(nbytes == a.nbytes, f"{name}: bytes {nbytes} vs {a.nbytes}")
    check("note = written by safetensors" in out, "inspect shows reference metadata")


def test_deltabench_safetensors_read(tmp):
    base, target = os.path.join(tmp, "base.safetensors"), os.path.join(tmp, "target.safetensors")
    run("synth", "--shape", "tiny", "--seed", "3", "--out-base", base, "--out-target", target)
    for path in (base, target):
        ref = load_file(path)
        got = parse_inspect(run("inspect", path).stdout)
        check(set(ref) == set(got), f"{os.path.basename(path)}: same tensor names")
        for name, a in ref.items():
            if name in got:
                check(got[name][0] == NP_TO_ST[a.dtype.type], f"{name}: dtype")
                check(got[name][1] == a.shape, f"{name}: shape")
                check(np.isfinite(a.astype(np.float32)).all(), f"{name}: finite values")
        check(any(n.startswith("model.layers.0.") for n in ref), "Llama tensor names")
    # Values: an fp16 delta is lossy only by its own rounding. Per element the decompressed
    # weight may differ from the target by half an fp16 ulp of the delta (storing it) plus one
    # ulp of the target's dtype at the target's magnitude (the sum rounded back, with slack).
    delta, back = os.path.join(tmp, "d.safetensors"), os.path.join(tmp, "back.safetensors")
    run("compress", "--base", base, "--target", target, "--method", "fp16", "--out", delta)
    run("decompress", "--base", base, "--delta", delta, "--out", back)
    t, b, w0 = load_file(target), load_file(back), load_file(base)
    check(set(t) == set(b), "decompressed model has the target's tensors")
    for name in t:
        if name not in b:
            continue
        check(b[name].dtype == t[name].dtype and b[name].shape == t[name].shape, f"{name}: layout")
        if not t[name].size:
            continue
        tt, bb = t[name].astype(np.float64), b[name].astype(np.float64)
        d = np.abs(tt - w0[name].astype(np.float64))
        tol = 0.5 * np.spacing(d.astype(np.float16)).astype(np.float64) \
            + np.spacing(np.abs(t[name])).astype(np.float64)
        err = np.abs(bb - tt)
        worst = float((err - tol).max())
        check(worst <= 0, f"{name}: fp16 delta round trip within 1/2 ulp16(delta) + 1 ulp(target) "
                          f"(max err {err.max():.3g}, excess {worst:.3g})")
        check(float(err.mean()) < 1e-3 * float(np.abs(tt).mean() + 1e-30),
              f"{name}: mean round-trip error small ({err.mean():.3g})")


def test_h5py_table_export(tmp):
    path = os.path.join(tmp, "h5py.h5")
    dt = np.dtype([("id", "<i8"), ("value", "<f8"), ("count", "<u4"), ("label", "S12")])
    rows = np.array([(1, 0.5, 7, b"alpha"), (-2, -1e-300, 0, b"with,comma"), (3, 1.0 / 3, 42, b"")], dtype=dt)
    with h5py.File(path, "w") as f:
        f.create_dataset("things", data=rows)
        f.attrs["tool_version"] = "h5py"
    p = run("export", path, "things")
    got = list(csv.reader(io.StringIO(p.stdout)))
    check(got[0] == ["id", "value", "count", "label"], f"export header {got[0]}")
    check(len(got) == 4, f"export rows {len(got) - 1}")
    for want, row in zip(rows, got[1:]):
        check(int(row[0]) == want["id"], f"id {row[0]}")
        check(float(row[1]) == want["value"], f"value {row[1]} vs {want['value']!r} (exact round trip)")
        check(int(row[2]) == want["count"], f"count {row[2]}")
        check(row[3] == want["label"].decode(), f"label {row[3]!r}")
    out = run("inspect", path).stdout
    check("things" in out and "3 rows" in out, "inspect lists the h5py table with its row count")
    p = run("export", path, "nosuch", ok=False)
    check(p.returncode == 1 and "nosuch" in p.stderr, "export of a missing table fails naming it")


def test_deltabench_hdf5_read(tmp):
    h5, csvp = os.path.join(tmp, "trace.h5"), os.path.join(tmp, "trace.csv")
    common = ["trace", "gen", "--arrival", "poisson", "--rate", "5", "--models", "4",
              "--popularity", "zipf:1.2", "--lengths", "fixed:64,16", "--duration", "20", "--seed", "9"]
    run(*common, "--out", h5)
    run(*common, "--out", csvp)
    with h5py.File(h5, "r") as f:
        for attr in ("tool_version", "git_commit", "command_line", "seed", "host", "cpu_model",
                     "gpu_name", "start_time", "duration_s"):
            check(attr in f.attrs, f"root attribute {attr}")
        check(int(f.attrs.get("seed", -1)) == 9, "seed attribute is the run's seed")
        table = f["requests"][()]
    with open(csvp) as fp:
        rows = list(csv.DictReader(fp))
    check(len(rows) == len(table) and len(rows) > 50, f"rows: csv {len(rows)} vs h5 {len(table)}")
    for r, t in zip(rows, table):
        check(int(r["request_id"]) == t["request_id"], "request_id")
        check(abs(float(r["arrival_s"]) - t["arrival_s"]) <= 1e-6, "arrival_s")
        check(int(r["model"]) == t["model"], "model")
        check(int(r["prompt_tokens"]) == t["prompt_tokens"] == 64, "prompt_tokens")
        check(int(r["output_tokens"]) == t["output_tokens"] == 16, "output_tokens")
        if failures:
            break
    exported = list(csv.DictReader(io.StringIO(run("export", h5, "requests").stdout)))
    check(len(exported) == len(table), "deltabench export agrees with h5py on row count")


def main():
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        for t in (test_reference_safetensors_load, test_deltabench_safetensors_read,
                  test_h5py_table_export, test_deltabench_hdf5_read):
            before = len(failures)
            t(tmp)
            print(("ok   " if len(failures) == before else "FAIL ") + t.__name__)
    print(f"interop: {4 - bool(failures)} of 4 groups clean, {len(failures)} failed checks")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
