"""Where a graded kernel runs: bubblewrap, limits, an unprivileged uid (no Docker).

launcher (the sandbox's limits and its launcher, `python -m tfladder.sandbox.launcher`; standard
library only), paths (the Python folders a kernel gets), zygote (kernels forked with TensorFlow
already imported), kernel_manager (jupyter_client's kernel manager for sandboxed kernels).

This file stays empty: the launcher imports only the standard library.
"""
