#!/usr/bin/env python3
"""Check the .pyi stubs against the built native module.

Every public name of the module must be in the stub and vice versa; for functions and
methods whose signature the module exposes, parameter names, kinds and defaults must match.
Exit status 1 with a list of differences otherwise.
"""
import ast
import importlib
import inspect
import pathlib
import sys

STUB = pathlib.Path(__file__).resolve().parent.parent / "bindings/python/python/candle_numpy/_native.pyi"
mod = importlib.import_module("candle_numpy._native")
tree = ast.parse(STUB.read_text())
problems = []


def stub_params(fn: ast.FunctionDef):
    a = fn.args
    out = []
    pos = a.posonlyargs + a.args
    defaults = [None] * (len(pos) - len(a.defaults)) + list(a.defaults)
    for arg, d in zip(pos, defaults):
        out.append((arg.arg, "positional", None if d is None else ast.literal_eval(d)))
    if a.vararg:
        out.append((a.vararg.arg, "var", None))
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append((arg.arg, "keyword", None if d is None else ast.literal_eval(d)))
    if a.kwarg:
        out.append((a.kwarg.arg, "varkw", None))
    return [p for p in out if p[0] != "self"]


def real_params(obj):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    out = []
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        kind = {p.VAR_POSITIONAL: "var", p.KEYWORD_ONLY: "keyword", p.VAR_KEYWORD: "varkw"}.get(p.kind, "positional")
        default = None if p.default is p.empty else p.default
        out.append((p.name, kind, default))
    return out


def check_function(name, fn_node, obj):
    real = real_params(obj)
    if real is None or name.split(".")[-1].startswith("__"):
        return
    stub = stub_params(fn_node)
    # pyo3 renders defaults it cannot print as a literal (e.g. negative numbers) as `...`:
    # those are not checked
    stub = [(n, k, Ellipsis) if r is not None and r[2] is Ellipsis else (n, k, d)
            for (n, k, d), r in zip(stub, real + [None] * (len(stub) - len(real)))]
    if stub != real:
        problems.append(f"{name}: stub {stub} != module {real}")


stub_names = set()
for node in tree.body:
    if isinstance(node, ast.ClassDef):
        stub_names.add(node.name)
        cls = getattr(mod, node.name, None)
        if cls is None:
            problems.append(f"class {node.name} is in the stub but not the module")
            continue
        stub_members = set()
        for item in node.body:
            if isinstance(item, ast.FunctionDef):
                stub_members.add(item.name)
                member = getattr(cls, item.name, None)
                if member is None:
                    problems.append(f"{node.name}.{item.name} is in the stub but not the module")
                elif not isinstance(member, property) and callable(member):
                    check_function(f"{node.name}.{item.name}", item, member)
        real_members = {m for m in vars(cls) if not m.startswith("_")}
        for m in sorted(real_members - stub_members):
            problems.append(f"{node.name}.{m} is in the module but not the stub")
    elif isinstance(node, ast.FunctionDef):
        stub_names.add(node.name)
        obj = getattr(mod, node.name, None)
        if obj is None:
            problems.append(f"{node.name} is in the stub but not the module")
        else:
            check_function(node.name, node, obj)

real_names = {n for n in dir(mod) if not n.startswith("__")}
for n in sorted(real_names - stub_names):
    problems.append(f"{n} is in the module but not the stub")

if problems:
    print("stubs out of date:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"stubs match the module: {len(stub_names)} names checked")
