"""Delivery of the Cisco CDR records in the outbox to the CDR receivers (`system/cdrReceivers`).

Each receiver gets its records in order, as `<records session="...">` documents POSTed
over HTTP; a batch counts as delivered only when the receiver answers 2xx (the Cisco CDR
guide: "acknowledged the data with a 200 OK"), and is sent again, after a back-off, until
it is. So a receiver sees every record at least once; `session` and `recordIndex` together
name a record, so it can drop one it had already (the guide's duplicate detection).
Only http:// URLs are used, and redirects are never followed: a 3xx is a failure.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Awaitable, Callable
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

import httpx

from ..logtext import quoted

if TYPE_CHECKING:
    from ..store.cdr_outbox import CdrOutbox, Record

log = logging.getLogger('telephony.cdr')
logging.getLogger('httpx').setLevel(logging.WARNING)   # we log each delivery ourselves

Receivers = Callable[[], Awaitable[list[str]]]
RECEIVER_POLL = 5.0     # s between looks at the receivers list (the API may change it)
MAX_RECEIVERS = 2       # "up to 2 CDR receivers are supported" (Cisco tooManyCdrReceivers)


def receivers_from(setting: str, *sources: Receivers) -> Receivers:
    """The receivers: the `cdr_receivers` setting (comma-separated URLs) and whatever the
    sources (the Cisco API's `system/cdrReceivers` store) list, each URL once."""
    configured = [u.strip() for u in setting.split(',') if u.strip()]

    async def receivers() -> list[str]:
        urls = list(configured)
        for source in sources:
            urls += await source()
        return list(dict.fromkeys(urls))
    return receivers


def refusal(url: str) -> str | None:
    """Why `url` cannot be a receiver, or None."""
    try:
        parts = urlsplit(url)
        parts.port    # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        return 'not a URL'
    if parts.scheme != 'http':
        return 'only http:// receivers are supported'
    if not parts.hostname:
        return 'no host'
    return None


def render(records: list['Record'], missing: int = 0) -> bytes:
    """One `<records>` document (all of one session)."""
    out = ['<?xml version="1.0"?>\n', f'<records session={quoteattr(records[0].session)}>\n']
    for i, r in enumerate(records):
        lost = f' numPreceedingRecordsMissing="{missing}"' if i == 0 and missing else ''
        out.append(f'<record type="{r.type}" time="{r.time}" recordIndex="{r.seq}" '
                   f'correlatorIndex="{r.seq - 1}"{lost}>{r.body}</record>\n')
    out.append('</records>\n')
    return ''.join(out).encode()


class CdrDelivery:
    def __init__(self, outbox: 'CdrOutbox', receivers: Receivers, *, retry_min: float = 0.5,
                 retry_max: float = 30.0, batch: int = 100, timeout: float = 10.0):
        self.outbox = outbox
        self.receivers = receivers
        self.retry_min = max(0.01, retry_min)
        self.retry_max = max(self.retry_min, retry_max)
        self.batch = batch
        self.timeout = timeout
        self.urls: list[str] = []
        self._workers: dict[str, asyncio.Task] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        self._refused: set[str] = set()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def stop(self) -> None:
        tasks = [t for t in [self._task, *self._workers.values()] if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()

    def notify(self) -> None:
        """New records are in the outbox."""
        self._changed.set()
        for wake in self._wakes.values():
            wake.set()

    async def _supervise(self) -> None:
        """One worker per receiver, following the receivers list."""
        while True:
            try:
                urls = await self.receivers()
            except Exception:
                log.exception('event=cdr-receivers-failed')
                urls = self.urls
            usable = []
            for url in urls:
                why = refusal(url)
                if why is None:
                    usable.append(url)
                elif url not in self._refused:
                    self._refused.add(url)
                    log.warning('event=cdr-receiver-refused url=%s reason=%s', quoted(url), quoted(why))
            self.urls = usable[:MAX_RECEIVERS]
            for url in [u for u in self._workers if u not in self.urls]:
                self._workers.pop(url).cancel()
                self._wakes.pop(url, None)
            for url in self.urls:
                if url not in self._workers:
                    self._wakes[url] = asyncio.Event()
                    self._workers[url] = asyncio.get_running_loop().create_task(self._deliver(url))
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), RECEIVER_POLL)
            except asyncio.TimeoutError:
                pass

    async def _deliver(self, url: str) -> None:
        wake = self._wakes[url]
        delay = self.retry_min
        async with httpx.AsyncClient(follow_redirects=False, timeout=self.timeout,
                                     trust_env=False) as client:
            while True:
                wake.clear()
                try:
                    missing, records = await self.outbox.pending(url, self.batch)
                except Exception:
                    log.exception('event=cdr-outbox-failed url=%s', quoted(url))
                    records = []
                    await asyncio.sleep(delay)
                if not records:
                    try:
                        await asyncio.wait_for(wake.wait(), RECEIVER_POLL)
                    except asyncio.TimeoutError:
                        pass
                    continue
                records = [r for r in records if r.session == records[0].session]
                if await self._post(client, url, render(records, missing), records):
                    delay = self.retry_min
                    continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)

    async def _post(self, client: httpx.AsyncClient, url: str, body: bytes, records) -> bool:
        first, last = records[0].seq, records[-1].seq
        try:
            resp = await client.post(url, content=body, headers={'Content-Type': 'text/xml'})
        except httpx.HTTPError as exc:
            log.warning('event=cdr-delivery-failed url=%s records=%d-%d error=%s', quoted(url),
                        first, last, quoted(type(exc).__name__))
            return False
        if not 200 <= resp.status_code < 300:
            log.warning('event=cdr-delivery-failed url=%s records=%d-%d status=%d', quoted(url),
                        first, last, resp.status_code)
            return False
        await self.outbox.acknowledged(url, last, self.urls)
        log.info('event=cdr-delivered url=%s records=%d-%d', quoted(url), first, last)
        return True
