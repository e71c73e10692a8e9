"""Signals during the capture window: Ctrl-C, SIGTERM and SIGHUP stop it cleanly, Ctrl-Z is
refused."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hotshard.capture.session import Session

SUSPEND_REFUSED = (
    "not suspending: a stopped capture makes the server buffer its MONITOR output — press "
    "Ctrl-C to stop it cleanly (to detach, run it under tmux, screen or nohup)"
)


class SignalScope:
    """Ctrl-C / SIGTERM / SIGHUP stop the window cleanly; a second Ctrl-C aborts at once.

    SIGHUP is what a dropped SSH session to the bastion sends: the capture finalizes its files
    and manifest like on Ctrl-C (the terminal is gone: StatusLine stops writing to it on EIO).

    Ctrl-Z is refused: a suspended capture stops reading while the server keeps buffering its
    MONITOR output (the watchdog would cut every node). A background capture that writes its
    status to the terminal is not stopped by SIGTTOU either. Only the main thread can install
    handlers: elsewhere (a capture run by a test in a thread) the scope does nothing.
    """

    def __init__(self, session: Session):
        self.session = session
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> SignalScope:
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self.saved[sig] = signal.signal(sig, self._handle)
        self.saved[signal.SIGTSTP] = signal.signal(signal.SIGTSTP, self._refuse_suspend)
        self.saved[signal.SIGTTOU] = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.session.interrupted.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.session.interrupted.set()
        if signum == signal.SIGHUP:
            self.session.say("the terminal hung up: stopping and saving the capture")
        else:
            self.session.say("stopping (Ctrl-C again to abort at once)")

    def _refuse_suspend(self, signum: int, frame: Any) -> None:
        self.session.status.message(f"hotshard: {SUSPEND_REFUSED}", force=True)

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
