"""Callers remembered between requests, forgotten by every process the moment they change.

Resolving a caller costs a transaction and one or two queries; the answer changes only when an
application's key or permissions, a user, a session, a team's permissions or its members change.
A trigger on each of those tables (revision 0022) adds one to the single row of
`auth_generation` in the changing transaction, whoever makes it (the API on any unit, the CLI,
SQL by hand). A remembered caller is used only while the generation it was resolved under is
still the current one, read once per request after the request arrived: a change committed
before a request arrives is seen by that request, on every worker and unit.

The read is one primary-key row on a connection of its own, outside any transaction (opened
aside on first use: requests do not wait for it), and reads are shared: a request waiting for
the connection uses the answer of a read that started after it arrived. What it saves is the
pooled connection's checkout and liveness check, the transaction and the lookups themselves.
Requests read it from the event loop (`current_generation`, on an asynchronous connection), so
that a remembered caller costs no trip through the thread pool either; code running in a
thread reads it on a connection of its own (`generation`).

Since the row is written in the changing transaction, a new value is visible only once the
change is: a caller resolved under a generation never holds an answer older than that
generation.

Other answers that change as rarely may be remembered under the same rule, once their changes
move the generation: whether a webhook subscribes to an event type (revision 0027,
`webhooks.events.wanted`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import psycopg
from sqlalchemy import Engine

logger = logging.getLogger(__name__)

# Keys and sessions remembered per process: far more than the CI systems and reviewers active
# at once; the least recently used is forgotten first.
DEFAULT_CAPACITY = 4096
GENERATION_QUERY = "SELECT value FROM auth_generation"


class CallerCache:
    def __init__(self, engine: Engine, *, capacity: int = DEFAULT_CAPACITY) -> None:
        self.engine = engine
        self.capacity = capacity
        # key → (generation it was resolved under, value)
        self._entries: OrderedDict[Any, tuple[int, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._connection: Any = None
        self._connecting = False
        self._closed = False
        # When the last read started (monotonic ns) and what it answered, by either connection.
        self._last_read: tuple[int, int] | None = None
        # The event loop's connection, and the loop it belongs to (one per served process; a
        # test client runs one loop after another).
        self._async_connection: psycopg.AsyncConnection[Any] | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._async_lock: asyncio.Lock | None = None
        self._async_connecting = False
        self._async_task: asyncio.Task[None] | None = None

    def generation(self) -> int | None:
        """The current generation, read after this call began; None when it cannot be read
        (the caller is then resolved from the database, as without a cache)."""
        arrived = time.monotonic_ns()
        with self._read_lock:
            if self._last_read is not None and self._last_read[0] > arrived:
                return self._last_read[1]
            if self._connection is None:
                # Connected aside, so that no request waits for it: until then, callers are
                # looked up.
                if not self._connecting and not self._closed:
                    self._connecting = True
                    threading.Thread(target=self._connect_aside, daemon=True).start()
                return None
            started = time.monotonic_ns()
            try:
                row = self._connection.execute(GENERATION_QUERY).fetchone()
            except Exception as error:
                logger.warning("caller cache: cannot read the generation: %s", error)
                self._disconnect()
                return None
            value = int(row[0]) if row is not None else 0
            self._last_read = (started, value)
            return value

    async def current_generation(self) -> int | None:
        """`generation`, read from the event loop without blocking it."""
        arrived = time.monotonic_ns()
        last = self._last_read
        if last is not None and last[0] > arrived:
            return last[1]
        loop = asyncio.get_running_loop()
        if self._async_loop is not loop:
            # Another loop's connection cannot be used from this one; it is dropped (closed by
            # the collector) and one is opened for this loop.
            self._async_loop, self._async_lock = loop, asyncio.Lock()
            self._async_connection, self._async_connecting = None, False
        if self._async_connection is None:
            if not self._async_connecting and not self._closed:
                self._async_connecting = True
                # Kept: the loop holds only a weak reference to its tasks.
                self._async_task = loop.create_task(self._connect_async(loop))
            return None
        assert self._async_lock is not None
        async with self._async_lock:
            last = self._last_read
            if last is not None and last[0] > arrived:
                return last[1]
            connection = self._async_connection
            if connection is None:
                return None
            started = time.monotonic_ns()
            try:
                cursor = await connection.execute(GENERATION_QUERY)
                row = await cursor.fetchone()
            except Exception as error:
                logger.warning("caller cache: cannot read the generation: %s", error)
                self._async_connection = None
                with contextlib.suppress(Exception):
                    await connection.close()
                return None
            value = int(row[0]) if row is not None else 0
            self._last_read = (started, value)
            return value

    async def _connect_async(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            arguments, options = self.engine.dialect.create_connect_args(self.engine.url)
            connection = await psycopg.AsyncConnection.connect(
                *arguments, **options, autocommit=True
            )
        except Exception as error:
            logger.warning("caller cache: cannot connect: %s", error)
            connection = None
        if self._async_loop is not loop or self._closed:
            if connection is not None:
                await connection.close()
            return
        # Without a connection, the next request tries again.
        self._async_connecting = False
        self._async_connection = connection

    async def aclose(self) -> None:
        """`close`, and the event loop's connection with it."""
        connection, self._async_connection = self._async_connection, None
        self.close()
        if connection is not None and self._async_loop is asyncio.get_running_loop():
            with contextlib.suppress(Exception):
                await connection.close()

    def get(self, key: Any, generation: int) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] != generation:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def store(self, key: Any, value: Any, generation: int) -> None:
        """Remember `value`, resolved from the database after `generation` was read."""
        with self._lock:
            self._entries[key] = (generation, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        with self._read_lock:
            self._closed = True
            self._disconnect()
        with self._lock:
            self._entries.clear()

    def _connect_aside(self) -> None:
        try:
            arguments, options = self.engine.dialect.create_connect_args(self.engine.url)
            connection = self.engine.dialect.loaded_dbapi.connect(*arguments, **options)
            connection.autocommit = True
        except Exception as error:
            logger.warning("caller cache: cannot connect: %s", error)
            connection = None
        with self._read_lock:
            self._connecting = False
            if self._closed and connection is not None:
                connection.close()
            elif connection is not None:
                self._connection = connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            # Being dropped anyway: a failure to close says nothing more.
            with contextlib.suppress(Exception):
                self._connection.close()
        self._connection = None
        self._last_read = None
