"""A matrix product callable from compiled code, for the fast path's time loops.

The fast path (:mod:`rnnkit.nn.fast`) runs a whole direction's time loop inside
one numba function, so each step's recurrent product ``h W_hh^T`` has to be
called from compiled code, not through ``np.matmul``. This module finds a
CBLAS ``sgemm``/``dgemm`` (and ``gemv``) and hands the drivers their addresses; :func:`gemm` is
the njit-callable product the drivers use.

Which library (``backend()``, chosen once, on first use):

* ``"openblas"`` (the default but on Intel CPUs with MKL installed): the
  OpenBLAS that NumPy itself loaded, found through threadpoolctl, so the time
  loops use the same library as ``np.matmul`` and the layers' large products;
* ``"mkl"``: Intel MKL's ``cblas_sgemm``/``cblas_dgemm`` from ``libmkl_rt``
  (``pip install 'rnnkit[mkl]'``), the BLAS of PyTorch's CPU build, with its
  packed products (:func:`pack`). The default where it is installed and the
  CPU is Intel's: on a 2-core Intel Xeon (Sapphire Rapids) the LSTM's training
  step ran 1.2-1.3x faster with it than with OpenBLAS at the four larger
  benchmark shapes (docs/performance.md). Elsewhere only with ``RNNKIT_BLAS=mkl``:
  on the 2-core AMD EPYC (Zen 5) measured before, MKL's 2048^3 sgemm ran at 161
  GFLOP/s against OpenBLAS's 426, and its OpenMP runtime is a second thread pool
  beside NumPy's;
* ``"numpy"``: none of them: the drivers keep their time loop in Python with
  one ``np.matmul`` a step (the previous fast path; same results); also what
  is left when OpenBLAS is not found (no threadpoolctl, or a NumPy built on
  another BLAS) and MKL was not asked for.

``RNNKIT_BLAS=mkl|openblas|numpy`` (read on first use) chooses explicitly, for
benchmarks and tests that compare them; a choice that is not available is an
error with one line saying what to install. Without numba there is nothing to
call the pointer from and the backend is ``"numpy"``.

Threads: each worker thread of the time loop runs its own batch rows with a
one-thread BLAS: the fast path lowers the libraries' thread count to 1 for the
layer call (:func:`rnnkit.nn.fast.small_work_threads`), and MKL's calls are
also made one-thread per worker (``mkl_set_num_threads_local``, a per-thread
setting). NumPy's OpenBLAS has no such per-thread setting that works: its
``openblas_set_num_threads_local`` changes the global count.

Packed weights (MKL only): a time loop multiplies every step by the same recurrent
weight, and a BLAS rearranges (packs) its operand into the layout of its kernel on every
call. MKL can pack it once (``cblas_?gemm_pack``) and multiply by the packed copy at each
step (``cblas_?gemm_compute``), as oneDNN's RNN primitive keeps its weights; on the
Intel Xeon (Sapphire Rapids) this was measured on, a (64 x 1024)(1024 x 4096) step product
ran about 1.5x faster packed. :func:`pack` makes the copy (an empty array where the
backend has no packed products, or the product is too small to gain from it) and
:func:`gemm_w` takes it, falling back to :func:`gemm` when it is empty.

The call itself: :func:`gemm` ``(A, B, C, alpha, beta)`` computes
``C = alpha A B + beta C`` for 2-D arrays whose rows or columns are contiguous
(a transposed view passes as a transposed operand, no copy), in row-major
CBLAS terms; C's dtype selects ``sgemm`` or ``dgemm`` (all three must share
it); a single row goes to gemv. The library's addresses travel as a plain
int64 array argument (:meth:`Backend.address`), so the compiled drivers can be
cached on disk.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import sys

import numpy as np

CHOICES = ("mkl", "openblas", "numpy")


class Backend:
    """One BLAS library: its name, the routines' addresses, the integer width, the thread setter.

    ``routines``: dtype name -> (gemm, gemv) addresses, for "float32" (sgemm, sgemv) and
    "float64" (dgemm, dgemv), with MKL's (compute, pack, pack_get_size) after them; empty
    for ``"numpy"``.
    """

    __slots__ = ("name", "routines", "ilp64", "_set_local", "_lib", "_addresses", "jit")

    def __init__(self, name, routines=None, ilp64=False, set_local=None, lib=None, jit=None):
        self.name, self.routines, self.ilp64 = name, dict(routines or {}), ilp64
        self._set_local, self._lib = set_local, lib
        # dtype name -> (create, get kernel) of MKL's generated small products (:func:`jit`)
        self.jit = dict(jit or {})
        # (gemm, gemv, packed compute): 0 for the last where the library has none
        self._addresses = {k: np.array([v[0], v[1], v[2] if len(v) > 2 else 0], dtype=np.int64)
                           for k, v in self.routines.items()}  # fmt: skip

    @property
    def compiled(self) -> bool:
        """Whether the drivers can call this library from compiled code."""
        return bool(self.routines)

    @property
    def packs(self) -> bool:
        """Whether this library multiplies by a weight packed once (:func:`pack`)."""
        return any(len(v) > 2 for v in self.routines.values())

    def address(self, dtype) -> np.ndarray:
        """The (gemm, gemv, packed compute or 0) addresses for ``dtype``, as the int64 array
        :func:`gemm` and :func:`gemm_w` take."""
        return self._addresses[np.dtype(dtype).name]

    def set_local_threads(self, n: int) -> None:
        """The BLAS thread count of the calling thread only (nothing for ``"numpy"``)."""
        if self._set_local is not None:
            self._set_local(int(n))

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


def _addresses(lib, pattern: str) -> dict:
    """dtype name -> (gemm, gemv) addresses of the CBLAS routines named ``pattern % routine``
    (AttributeError where one is missing)."""
    found = {}
    for dt, p in (("float32", "s"), ("float64", "d")):
        found[dt] = tuple(ctypes.cast(getattr(lib, pattern % f"{p}{r}"), ctypes.c_void_p).value
                          for r in ("gemm", "gemv"))  # fmt: skip
    return found


def _mkl() -> Backend | None:
    # the mkl package puts libmkl_rt.so.N in the environment's lib/; else the loader's path
    names = sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")), reverse=True)
    names += ["libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so"]
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        return None
    try:
        lib.MKL_Set_Num_Threads_Local.argtypes = [ctypes.c_int]
        lib.MKL_Set_Num_Threads_Local.restype = ctypes.c_int
        routines = _addresses(lib, "cblas_%s")
    except AttributeError:
        return None
    try:  # the packed products (MKL 2017 and later)
        for dt, p in (("float32", "s"), ("float64", "d")):
            get_size = getattr(lib, f"cblas_{p}gemm_pack_get_size")
            get_size.argtypes, get_size.restype = [ctypes.c_int] * 4, ctypes.c_size_t
            pack_fn = getattr(lib, f"cblas_{p}gemm_pack")
            real = ctypes.c_float if p == "s" else ctypes.c_double
            pack_fn.argtypes = [ctypes.c_int] * 6 + [real, ctypes.c_void_p, ctypes.c_int,
                                                     ctypes.c_void_p]  # fmt: skip
            compute = ctypes.cast(getattr(lib, f"cblas_{p}gemm_compute"), ctypes.c_void_p).value
            routines[dt] = (*routines[dt], compute, pack_fn, get_size)
    except AttributeError:
        pass
    jit = {}
    try:  # kernels generated for one product's shapes (MKL 2019 and later)
        for dt, p in (("float32", "s"), ("float64", "d")):
            create = getattr(lib, f"mkl_cblas_jit_create_{p}gemm")
            real = ctypes.c_float if p == "s" else ctypes.c_double
            ints = [ctypes.c_int] * 6  # layout, transa, transb, m, n, k
            create.argtypes = [ctypes.POINTER(ctypes.c_void_p), *ints, real, ctypes.c_int,
                               ctypes.c_int, real, ctypes.c_int]  # fmt: skip
            create.restype = ctypes.c_int
            get = getattr(lib, f"mkl_jit_get_{p}gemm_ptr")
            get.argtypes, get.restype = [ctypes.c_void_p], ctypes.c_void_p
            jit[dt] = (create, get)
    except AttributeError:
        jit = {}
    return Backend("mkl", routines, False, lib.MKL_Set_Num_Threads_Local, lib, jit)


def _numpy_openblas() -> Backend | None:
    """The OpenBLAS NumPy loaded: its path from threadpoolctl, its symbols by their known
    prefixes (NumPy's wheels rename them, ``scipy_cblas_sgemm64_``, 64-bit integers)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    paths = [i["filepath"] for i in threadpool_info() if i.get("internal_api") == "openblas"]
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    paths.sort(key=lambda p: not p.startswith(numpy_dir))  # NumPy's own first
    paths += glob.glob(os.path.join(numpy_dir, "numpy.libs", "libscipy_openblas*.so*"))
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix, ilp64 in (("scipy_", "64_", True), ("", "64_", True), ("", "", False)):
            try:
                routines = _addresses(lib, f"{prefix}cblas_%s{suffix}")
            except AttributeError:
                continue
            # no per-thread setter: this build's openblas_set_num_threads_local changes the
            # global count (the fast path lowers it for the whole layer call instead)
            return Backend("openblas", routines, ilp64, None, lib)
    return None


_BACKEND: Backend | None = None


def backend() -> Backend:
    """The library the fast path calls (resolved on first use; see the module docstring)."""
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = resolve(os.environ.get("RNNKIT_BLAS", "").strip().lower() or None)
    return _BACKEND


def resolve(choice: str | None) -> Backend:
    """The backend for ``choice`` (one of :data:`CHOICES`, or None: the best available)."""
    if choice is not None and choice not in CHOICES:
        raise ValueError(f"RNNKIT_BLAS must be one of {', '.join(CHOICES)}, received {choice!r}")
    if choice == "numpy" or gemm is None:
        if choice not in (None, "numpy"):
            raise RuntimeError(f"RNNKIT_BLAS={choice} needs numba: pip install 'rnnkit[fast]'")
        return Backend("numpy")
    if choice == "mkl" or (choice is None and _intel_cpu()):
        found = _mkl()
        if found is not None:
            return found
        if choice == "mkl":
            raise RuntimeError("RNNKIT_BLAS=mkl needs Intel MKL: pip install 'rnnkit[mkl]'")
    found = _numpy_openblas()
    if found is not None:
        return found
    if choice == "openblas":
        raise RuntimeError("RNNKIT_BLAS=openblas found no OpenBLAS in NumPy "
                           "(needs threadpoolctl: pip install 'rnnkit[fast]')")  # fmt: skip
    return Backend("numpy")


def _intel_cpu() -> bool:
    """Whether the CPU is Intel's (``GenuineIntel`` in /proc/cpuinfo; False where that file
    is not there)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return "GenuineIntel" in line
    except OSError:
        pass
    return False


@contextlib.contextmanager
def selected(choice: str | None):
    """Inside the block the fast path calls ``choice`` (as ``RNNKIT_BLAS``; tests, benchmarks).

    A forward and its backward must run under the same backend."""
    global _BACKEND
    previous = backend()
    _BACKEND = resolve(choice)
    try:
        yield _BACKEND
    finally:
        _BACKEND = previous


#: A recurrent weight is packed (:func:`pack`) where one step's product per thread has at
#: least this many multiply-adds: below it MKL's unpacked product ran as fast, and the
#: packed copy costs memory (MKL's buffer is several MB even for a small weight).
PACK_MIN_MACS = 1 << 23

#: ``RNNKIT_PACK=0`` (read at import) never packs, to compare the two.
PACK = os.environ.get("RNNKIT_PACK", "1").strip() not in ("0", "false", "no")

_CBLAS_B_MATRIX, _CBLAS_PACKED = 162, 151


#: ``RNNKIT_JIT=0`` (read at import) never uses MKL's generated kernels (:func:`jit`).
JIT = os.environ.get("RNNKIT_JIT", "1").strip() not in ("0", "false", "no")

_JITTERS: dict = {}  # (dtype, M, K, N, lda, ldb, ldc, beta) -> (jitter, kernel), kept for good
_NO_KERNELS = np.zeros((0, 9), dtype=np.int64)  # (never written)


def jit(B: np.ndarray, rows, lda: int, ldc: int, beta: float,
        be: Backend | None = None) -> np.ndarray:  # fmt: skip
    """MKL's kernels generated for a time loop's step products ``C = A B + beta C`` (its
    ``mkl_cblas_jit_create_?gemm``: register-blocked for the exact shapes, without the
    generic gemm's checks and dispatch), for :func:`gemm_j`.

    ``B`` (K, N) with contiguous rows (the weight), ``rows``: the numbers of rows M the
    threads' products have, ``lda`` and ``ldc`` the row strides (in elements) of A and C.
    Returns an (r, 9) int64 array, one row ``[M, K, N, lda, ldb, ldc, beta, jitter,
    kernel]`` per M; none (0 rows) where the backend has no such kernels, B's rows are not
    contiguous, M < 2 (gemv), or the product reaches :data:`PACK_MIN_MACS` (packed or large
    products: there the generic gemm is faster). On the 2-core Intel Xeon of
    docs/performance.md a (16 x 512)(512 x 128) step product took 12.9 us this way against
    15.6 us through cblas_sgemm, (16 x 193)(193 x 512) 20.4 against 21.7 us. Each kernel is
    generated once per process (a few hundred microseconds) and kept."""
    be = be or backend()
    dt = B.dtype.name
    s = B.itemsize
    K, N = B.shape
    if not (JIT and dt in be.jit and B.strides[1] == s and max(rows) > 1 and K >= 1 and N >= 1):
        return _NO_KERNELS
    out = []
    create, get = be.jit[dt]
    ldb = max(B.strides[0] // s, N)
    for M in sorted(set(rows)):
        if M < 2 or M * K * N >= PACK_MIN_MACS:
            continue
        key = (dt, M, K, N, lda, ldb, ldc, float(beta))
        if key not in _JITTERS:
            jitter = ctypes.c_void_p()
            status = create(ctypes.byref(jitter), _ROW_MAJOR, _NO_TRANS, _NO_TRANS, M, N, K,
                            1.0, lda, ldb, beta, ldc)  # fmt: skip
            _JITTERS[key] = (jitter.value, get(jitter)) if status == 0 else None
        made = _JITTERS[key]
        if made is not None:
            out.append([M, K, N, lda, ldb, ldc, int(beta), made[0], made[1]])
    return np.array(out, dtype=np.int64).reshape(-1, 9) if out else _NO_KERNELS


def pack(B: np.ndarray, rows: int, be: Backend | None = None) -> np.ndarray:
    """``B`` (K, N), a step's right operand (rows or columns contiguous), packed once for
    :func:`gemm_w` by the backend's library, for products of ``rows`` rows; an empty array
    where it has no packed products (OpenBLAS), or where ``rows * K * N`` is below
    :data:`PACK_MIN_MACS`. The packed copy is B itself (alpha 1), in the library's layout."""
    be = be or backend()
    K, N = B.shape
    kind = be.routines.get(B.dtype.name, ())
    if not PACK or len(kind) < 5 or rows * K * N < PACK_MIN_MACS or min(K, N, rows) < 1:
        return np.empty(0, dtype=np.uint8)
    _, _, _, pack_fn, get_size = kind
    size = int(get_size(_CBLAS_B_MATRIX, rows, N, K))
    out = np.empty(size + 64, dtype=np.uint8)
    start = (-out.ctypes.data) % 64  # the library's packed layout wants aligned memory
    out = out[start : start + size]
    s = B.itemsize
    if B.strides[1] == s:
        trans, ld = _NO_TRANS, max(B.strides[0] // s, N, 1)
    else:
        trans, ld = _TRANS, max(B.strides[1] // s, K, 1)
    pack_fn(_ROW_MAJOR, _CBLAS_B_MATRIX, trans, rows, N, K, 1.0, B.ctypes.data, ld,
            out.ctypes.data)  # fmt: skip
    return out


# ---------------------------------------------------------------------------
# The compiled call
# ---------------------------------------------------------------------------

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

gemm = None  # njit-callable gemm(addr, ilp64, A, B, C, alpha, beta), defined with numba below
gemm_w = None  # njit-callable gemm_w(addr, ilp64, A, B, P, C, beta): B or its packed copy P
gemm_j = None  # njit-callable gemm_j(addr, ilp64, A, B, P, J, C, beta): MKL's kernel from J

try:  # pragma: no cover - exercised whenever numba is there
    if os.environ.get("RNNKIT_DISABLE_JIT"):
        raise ImportError("disabled by RNNKIT_DISABLE_JIT")
    import numba
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    def _cblas_intrinsic(int_bits: int, kinds: str):
        """``call(addr, *args, like)``: a call of the CBLAS routine at ``addr`` (row-major
        order prepended) whose arguments after the order are of ``kinds``: ``i`` an integer
        of ``int_bits`` (``e`` a 32-bit enum), ``f`` the float type of the array ``like``
        (float32: the ``s`` routines, float64: the ``d`` ones), ``p`` a pointer passed as an
        integer."""

        @intrinsic
        def call(typingctx, addr, args, like):
            sig = types.void(addr, args, like)

            def codegen(context, builder, signature, llargs):
                iT, i32 = ir.IntType(int_bits), ir.IntType(32)
                ftype = signature.args[2].dtype
                fT = context.get_value_type(ftype)
                vp = ir.IntType(8).as_pointer()
                llty = {"e": i32, "i": iT, "f": fT, "p": vp}
                fnty = ir.FunctionType(ir.VoidType(), [i32] + [llty[k] for k in kinds])
                fn = builder.inttoptr(llargs[0], fnty.as_pointer())
                values = [ir.Constant(i32, _ROW_MAJOR)]
                tup_ty = signature.args[1]
                for j, k in enumerate(kinds):
                    v, ty = builder.extract_value(llargs[1], j), tup_ty[j]
                    if k == "f":
                        values.append(context.cast(builder, v, ty, ftype))
                    elif k == "p":
                        v = context.cast(builder, v, ty, types.uintp)
                        values.append(builder.inttoptr(v, vp))
                    else:
                        v = context.cast(builder, v, ty, types.int64)
                        values.append(builder.trunc(v, llty[k]) if llty[k].width < 64 else v)
                builder.call(fn, values)
                return context.get_dummy_value()

            return sig, codegen

        return call

    _GEMM = "eeiiifpipifpi"  # transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc
    _GEMV = "eiifpipifpi"  # trans, m, n, alpha, a, lda, x, incx, beta, y, incy
    _COMPUTE = "eeiiipipifpi"  # transa, transb (packed), m, n, k, a, lda, b, ldb, beta, c, ldc
    _gemm32, _gemm64 = _cblas_intrinsic(32, _GEMM), _cblas_intrinsic(64, _GEMM)
    _compute32 = _cblas_intrinsic(32, _COMPUTE)
    _gemv32, _gemv64 = _cblas_intrinsic(32, _GEMV), _cblas_intrinsic(64, _GEMV)

    @numba.njit(cache=True, nogil=True, inline="always")
    def _operand(A):
        """(trans, ld) of a 2-D operand with contiguous rows (row-major) or columns."""
        s = A.itemsize
        if A.shape[1] == 1 or A.strides[1] == s:
            return _NO_TRANS, max(A.strides[0] // s, A.shape[1], 1)
        return _TRANS, max(A.strides[1] // s, A.shape[0], 1)

    @numba.njit(cache=True, nogil=True)
    def gemm(addr, ilp64, A, B, C, alpha, beta):  # noqa: F811 - the real one
        """C = alpha A B + beta C (row-major; A (M, K), B (K, N), C (M, N), C's rows contiguous).

        ``addr``: :meth:`Backend.address` for C's dtype; ``ilp64``: :attr:`Backend.ilp64`.
        One row (M = 1, a generation step) goes to gemv: gemm would pack all of B first."""
        M, K = A.shape
        N = B.shape[1]
        if M == 0 or N == 0:
            return
        tb, ldb = _operand(B)
        if M == 1:
            s = A.itemsize
            inc = max(A.strides[1] // s, 1)
            if tb == _NO_TRANS:  # c = B^T a with B (K, N) row-major
                args = (_TRANS, K, N, alpha, B.ctypes.data, ldb, A.ctypes.data, inc, beta,
                        C.ctypes.data, 1)
            else:  # B = W^T, W (N, K) row-major: c = W a
                args = (_NO_TRANS, N, K, alpha, B.ctypes.data, ldb, A.ctypes.data, inc, beta,
                        C.ctypes.data, 1)
            if ilp64:
                _gemv64(addr[1], args, C)
            else:
                _gemv32(addr[1], args, C)
            return
        ta, lda = _operand(A)
        ldc = max(C.strides[0] // C.itemsize, N)
        args = (ta, tb, M, N, K, alpha, A.ctypes.data, lda, B.ctypes.data, ldb, beta,
                C.ctypes.data, ldc)
        if ilp64:
            _gemm64(addr[0], args, C)
        else:
            _gemm32(addr[0], args, C)

    @numba.njit(cache=True, nogil=True)
    def gemm_w(addr, ilp64, A, B, P, C, beta):  # noqa: F811 - the real one
        """C = A B + beta C, with B's packed copy ``P`` (:func:`pack`) where it is not empty
        (MKL's ``cblas_?gemm_compute``), else :func:`gemm` with B. A (M, K) with contiguous
        rows or columns, C (M, N) with contiguous rows."""
        M, K = A.shape
        N = B.shape[1]
        if P.size == 0 or M == 0 or N == 0:
            gemm(addr, ilp64, A, B, C, 1.0, beta)
            return
        ta, lda = _operand(A)
        ldc = max(C.strides[0] // C.itemsize, N)
        args = (ta, _CBLAS_PACKED, M, N, K, A.ctypes.data, lda, P.ctypes.data, N, beta,
                C.ctypes.data, ldc)
        _compute32(addr[2], args, C)  # MKL's LP64 interface: 32-bit integers

    @intrinsic
    def _call_kernel(typingctx, addr, args):
        """Call the ``void f(void*, void*, void*, void*)`` at ``addr`` (an MKL generated
        kernel: jitter, a, b, c) with the four addresses of the tuple ``args``."""
        sig = types.void(addr, args)

        def codegen(context, builder, signature, llargs):
            vp = ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [vp] * 4)
            fn = builder.inttoptr(llargs[0], fnty.as_pointer())
            values = []
            for j in range(4):
                v = builder.extract_value(llargs[1], j)
                v = context.cast(builder, v, signature.args[1][j], types.uintp)
                values.append(builder.inttoptr(v, vp))
            builder.call(fn, values)
            return context.get_dummy_value()

        return sig, codegen

    @numba.njit(cache=True, nogil=True)
    def gemm_j(addr, ilp64, A, B, P, J, C, beta):  # noqa: F811 - the real one
        """C = A B + beta C by MKL's kernel generated for these shapes, where ``J``
        (:func:`jit`) has one (M, K, N, row strides, beta), else :func:`gemm_w` (by P)."""
        M, K = A.shape
        N = B.shape[1]
        s = A.itemsize
        if J.shape[0] > 0 and M > 1 and A.strides[1] == s and B.strides[1] == s:
            lda = A.strides[0] // s
            ldb = B.strides[0] // s
            ldc = C.strides[0] // s
            for r in range(J.shape[0]):
                if (J[r, 0] == M and J[r, 1] == K and J[r, 2] == N and J[r, 3] == lda
                        and J[r, 4] == ldb and J[r, 5] == ldc and J[r, 6] == beta):
                    _call_kernel(J[r, 8], (J[r, 7], A.ctypes.data, B.ctypes.data,
                                           C.ctypes.data))  # fmt: skip
                    return
        gemm_w(addr, ilp64, A, B, P, C, beta)

except ImportError:  # pragma: no cover
    pass
