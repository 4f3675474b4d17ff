"""Physical storage backends and the logical storage interfaces."""

from .base import Physical, Storage, StorageView, TxnOp

__all__ = ["Physical", "Storage", "StorageView", "TxnOp"]
