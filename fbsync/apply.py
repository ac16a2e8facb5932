"""The applier: the one place that sends rows to Meta and records them.

Every write of members goes through :class:`Applier`, whichever command asks (``sync``'s adds,
removes and replaces, ``upload``'s modes, ``forget``'s removals):

* rows go in **sessions** of batches of at most 10,000 rows (Meta's limit per call,
  docs/meta-api.md §1.5), each batch numbered, the last one flagged;
* a batch is recorded in the ledger **only after Meta acknowledged it**, in the transaction that
  records it, so a run killed at any instant leaves the ledger a true (possibly lagging) picture of
  Meta's side, and the next run sends at most the batch that was in flight again;
* a ``/usersreplace`` session persists its ``batch_seq`` before each batch and is resumed by the
  next run when a killed run left one young enough (Meta closes it 90 minutes after batch 1);
* between batches it honours the stop event (SIGTERM/SIGINT): the batches in flight finish and are
  recorded, then :class:`~fbsync.errors.Interrupted` says what was recorded.
"""

from __future__ import annotations

import logging
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, Literal, TypeVar

from .customers import CUSTOMER, Links
from .errors import Interrupted, MetaApiError
from .meta.client import MAX_ROWS_PER_CALL, MetaClient
from .meta.session import Session
from .planning import Plan
from .redact import scrub
from .results import Sent
from .state.crypto import RowCipher
from .state.staging import Staging
from .state.store import StateStore, pending
from .util import as_int
from .window import Item, send_all

log = logging.getLogger(__name__)
REPLACE_RESUME_S = 80 * 60
HALVING_FLOOR = 100  # a batch Meta finds too big is halved down to this size, then the error stands
TOO_SMALL = (200, 1870047)  # "Audience Size too Low": removals that would leave too few people
OnTooSmall = Literal["keep", "replace"]  # Meta closes a replace session 90 min after batch 1; resume only well before
Progress = Callable[[str, str, int, "int | None"], None]
Pair = tuple[bytes, bytes]  # (fingerprint, encrypted row)
Batch = tuple[Sequence[Pair], list[tuple[str, ...]]]  # the ledger's pairs, and the rows Meta gets
T = TypeVar("T")


def _no_progress(name: str, phase: str, done: int, total: int | None) -> None:
    return None


def resumable(prior: Mapping[str, Any] | None, meta_id: str | None, now: float) -> bool:
    """Whether the replace session a killed run recorded can go on (same audience, well within Meta's window)."""
    return bool(prior and meta_id and prior.get("meta_id") == meta_id and now - prior["started"] < REPLACE_RESUME_S)


def removal_rows(plan: Plan, stg: Staging, store: StateStore) -> Iterator[list[Pair]]:
    """The (fingerprint, encrypted row) batches a plan removes: the listed rows (upload's remove mode), or the
    ledger's rows of the stale or suppressed fingerprints."""
    if plan.removes_from == "listed":
        yield from stg.iter_desired(MAX_ROWS_PER_CALL)
        return
    batches = stg.iter_forced if plan.removes_from == "suppressed" else stg.iter_removes
    for batch in batches(MAX_ROWS_PER_CALL):
        rows = store.encrypted_rows(plan.audience, [fp for (fp,) in batch])
        if rows:
            yield rows


def linked_rows(
    store: StateStore, cipher: RowCipher, name: str, links: Links, removals: Iterable[Sequence[Pair]]
) -> list[bytes]:
    """The other ledger rows sharing a link key with a row to remove (an identifier, or a fanned customer's
    shared keys): Meta takes the person a removal matches off the audience, with these rows.  Reads only;
    the plan counts them, the applier forgets them in the ledger and sends them again.

    The ledger is decrypted once: each row's link keys are kept as 64-bit hashes in one array (a collision
    only re-sends a row: harmless), and the passes that follow a chain of links run over that array."""
    removed: set[int] = set()
    doomed: set[bytes] = set()
    for batch in removals:
        for fp, enc in batch:
            doomed.add(fp)
            removed.update(map(_key_hash, links.keys_of(cipher.decrypt(enc))))
    if not removed:
        return []
    width = max(1, links.width)
    keys = array("q")  # row i's key hashes at [i * width, (i + 1) * width), 0 where it has fewer
    pad = [0] * width
    for batch in store.iter_ledger(name):
        for fp, enc in batch:
            if fp not in doomed:
                row = list(map(_key_hash, links.keys_of(cipher.decrypt(enc))))
                keys.extend(row + pad[len(row) :])
    taken = bytearray(len(keys) // width)
    # Meta's person may be linked further by the rows it took (A shares a phone with B, B an e-mail with C): a
    # pass that found rows is followed by another with their keys, until one finds nothing (at most 5).
    for _ in range(5):
        grown: set[int] = set()
        for i in range(len(taken)):
            if taken[i]:
                continue
            slots = keys[i * width : (i + 1) * width]
            if any(k in removed for k in slots if k):
                taken[i] = 1
                grown.update(k for k in slots if k and k not in removed)
        removed |= grown
        if not grown:
            break
    if not any(taken):
        return []
    kept = (fp for fps in store.iter_fingerprints(name) for fp in fps if fp not in doomed)  # the same order
    return [fp for fp, hit in zip(kept, taken) if hit]


def _key_hash(key: tuple[Any, ...]) -> int:
    """A link key as a non-zero 64-bit number (0 pads a row's slots in :func:`linked_rows`)."""
    return hash(key) or 1


def with_last(items: Iterable[T]) -> Iterator[tuple[T, bool]]:
    """Each item with True for the last one (one item of look-ahead)."""
    it = iter(items)
    try:
        cur = next(it)
    except StopIteration:
        return
    for nxt in it:
        yield cur, False
        cur = nxt
    yield cur, True


class Applier:
    """Writes the members of one Meta audience, batch by batch, and records what Meta acknowledged."""

    def __init__(
        self,
        client: MetaClient,
        store: StateStore,
        cipher: RowCipher,
        name: str,
        meta_id: str,
        schema: Sequence[str],
        *,
        stop: threading.Event | None = None,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.time,
        links: Links | None = None,
    ) -> None:
        self.client, self.store, self.cipher = client, store, cipher
        self.name, self.meta_id = name, meta_id
        self.links = links or Links.of(tuple(schema))
        # What Meta gets: the kept columns without the hidden customer tag of a fanned audience (always last).
        self.schema = tuple(k for k in schema if k != CUSTOMER)
        self.resent = 0  # kept rows sent again because a removal may have taken their person off Meta
        self.stop = stop or threading.Event()
        self.progress = progress or _no_progress
        self.clock = clock
        self.added = self.removed = self.replaced = self.invalid = 0
        self.samples: list[str] = []  # up to 3 of Meta's invalid-entry samples, masked
        self.notes: list[str] = []
        self.cap = max(1, getattr(client.governor, "cap", 1))  # batches in flight at most (api.max_uploads_in_flight)

    @property
    def sent(self) -> Sent:
        """What Meta acknowledged so far (also after a failure: the ledger holds exactly this)."""
        return Sent(self.added, self.removed, self.replaced, self.invalid, min(self.resent, self.added))

    def apply(
        self,
        plan: Plan,
        stg: Staging,
        prior_replace: dict[str, Any] | None = None,
        on_too_small: OnTooSmall = "keep",
    ) -> None:
        """Carry out a plan's member changes on the staged rows (creation and renames are done before).

        When Meta refuses removals that would leave the audience too small (200/1870047), ``keep`` leaves
        the remaining removals pending in the ledger (tried again next run, said in the notes); ``replace``
        makes the audience exactly the desired rows with one ``/usersreplace`` session instead.
        """
        if plan.strategy == "replace":
            self.replace(stg, prior_replace)
            return
        if plan.removes and not self._removals(plan, stg, on_too_small):
            return
        adds = stg.adds if self.resent else plan.adds
        if adds:
            self.add(stg.iter_adds(MAX_ROWS_PER_CALL), adds)

    def _removals(self, plan: Plan, stg: Staging, on_too_small: OnTooSmall) -> bool:
        """Send the plan's removals first (Meta removes the person a row matches, so adds go after them);
        the kept rows a removal may take along are forgotten by the ledger before, to be sent again.
        False when the audience was replaced instead (nothing left to add)."""
        linked = linked_rows(self.store, self.cipher, self.name, self.links, removal_rows(plan, stg, self.store))
        if linked:  # one transaction, before any removal: a run killed later re-sends them, never loses them
            self.store.record_removed(self.name, linked)
            if plan.removes_from == "listed":  # upload's remove mode adds nothing after
                self.notes.append(
                    f"{len(linked):,} other rows share an identifier with a removed one; Meta may have taken their "
                    "person off too, so the ledger forgot them (the next sync sends them again if still wanted)"
                )
            else:
                stg.unack(linked)
                self.resent = stg.count_desired(linked)
        try:
            self.remove(removal_rows(plan, stg, self.store), plan.removes)
        except MetaApiError as exc:
            if (exc.code, exc.subcode) != TOO_SMALL:
                raise
            left = plan.removes - self.removed
            if on_too_small == "replace" and plan.removes_from == "stale":
                self.notes.append(
                    f"Meta refused {left:,} removals that would leave the audience too small (#200/1870047): "
                    "replaced the whole list instead (on_too_small: replace)"
                )
                self.resent = 0
                self.replace(stg, None)
                return False
            self.notes.append(
                f"{left:,} removals kept pending: Meta refuses removals that would leave the audience too "
                "small (#200/1870047); fbsync tries them again next run (or set on_too_small: replace)"
            )
        return True

    # ------------------------------------------------------------------ the three kinds of session
    def add(self, batches: Iterable[Sequence[Pair]], total: int | None = None) -> None:
        """Add rows through /users; each batch recorded in the ledger once Meta acknowledged it."""

        def record(batch: Sequence[Pair], resp: dict[str, Any]) -> None:
            self.store.record_added(self.name, batch)
            self.added += len(batch)
            self._invalid(resp)
            self.progress(self.name, "uploading adds", self.added, total)

        self._users(self.client.add_users, batches, total, record)

    def remove(self, batches: Iterable[Sequence[Pair]], total: int | None = None) -> None:
        """Remove rows through /users DELETE; each batch leaves the ledger once Meta acknowledged it."""

        def record(batch: Sequence[Pair], resp: dict[str, Any]) -> None:
            self.store.record_removed(self.name, [fp for fp, _ in batch])
            self.removed += len(batch)
            self.progress(self.name, "uploading removals", self.removed, total)

        self._users(self.client.remove_users, batches, total, record)

    def _users(
        self,
        call: Callable[..., dict[str, Any]],
        batches: Iterable[Sequence[Pair]],
        total: int | None,
        record: Callable[[Sequence[Pair], dict[str, Any]], None],
    ) -> None:
        """One /users session when batches go one at a time; when several may be in flight, each batch is a
        session of its own (one batch, flagged last), so batches can land in any order and a batch resent
        after a kill never reuses a number Meta may have seen."""
        shared = Session.new(total) if self.cap <= 1 else None

        def send(item: Item[Batch]) -> dict[str, Any]:
            rows = item.value[1]
            session = shared or Session.new(len(rows))
            return call(self.meta_id, self.schema, rows, session, last=item.last or shared is None)

        self._window(((batch, last, False) for batch, last in with_last(batches)), send, record)

    def replace(self, stg: Staging, prior: dict[str, Any] | None) -> None:
        """Make the audience exactly the staged rows with one /usersreplace session.

        A session a killed run left is resumed when it is young enough (its batch_seq was recorded
        before each send, so no number is used twice); otherwise a new one starts.  The ledger takes
        the session's rows only when the last batch is acknowledged (``commit_replace``).  The first batch
        this run sends goes alone (it opens the session, or finds out the killed run's batch 1 never
        arrived); the middle ones may overlap; the last waits for all of them, as it closes the session.
        """
        store, name, now = self.store, self.name, self.clock()
        # Resumed even when no batch was recorded: if batch 1 reached Meta unrecorded, batch 2 goes on from it;
        # if it did not, Meta answers 1870147 and the client sends it again as batch 1.
        resume = resumable(prior, self.meta_id, now)
        stg.clear_acked()  # the ledger's rows say nothing about this session
        if resume and prior:
            session = Session(prior["session_id"], prior.get("estimated"), prior["batch_seq"])
            started = float(prior["started"])
            for fps in store.iter_fingerprints(name, table=pending):
                stg.add_acked(fps)
            self.notes.append(f"resumed the replace session a killed run started {int(now - started)} s ago")
        else:
            store.clear_ledger(name, pending)
            session, started = Session.new(stg.desired), now
        todo = stg.adds
        # All rows already acknowledged but the closing batch never was: close with one row again.
        batches = (
            stg.iter_adds(MAX_ROWS_PER_CALL) if todo else islice(store.iter_ledger(name, chunk=1, table=pending), 1)
        )
        # Recorded before each send: a batch_seq is never used twice, even if Meta got it and we died.
        session.on_next = lambda seq: store.set_extra(
            name,
            replace={
                "meta_id": self.meta_id,
                "session_id": session.session_id,
                "estimated": session.estimated_num_total,
                "batch_seq": seq,
                "started": started,
            },
        )

        def send(item: Item[Batch]) -> dict[str, Any]:
            return self.client.replace_users(self.meta_id, self.schema, item.value[1], session, last=item.last)

        def record(batch: Sequence[Pair], resp: dict[str, Any]) -> None:
            store.record_added(name, batch, pending)
            self.replaced += len(batch)
            self._invalid(resp)
            self.progress(name, "replacing", self.replaced, todo)

        self._window(((b, last, i == 0 or last) for i, (b, last) in enumerate(with_last(batches))), send, record)
        store.commit_replace(name)
        store.set_extra(name, replace=None)

    # ------------------------------------------------------------------ helpers
    def _window(
        self,
        batches: Iterable[tuple[Sequence[Pair], bool, bool]],
        send: Callable[[Item[Batch]], dict[str, Any]],
        record: Callable[[Sequence[Pair], dict[str, Any]], None],
    ) -> None:
        """Send the (batch, last, alone) triples through the governor's window (:mod:`fbsync.window`), each
        recorded once Meta acknowledged it.  A batch Meta finds too big (105, or 1/99) is sent again in two
        halves (each recorded on its own), down to :data:`HALVING_FLOOR` rows, never again unchanged."""

        def items() -> Iterator[Item[Batch]]:
            for batch, last, alone in batches:
                yield Item((batch, self._rows(batch)), last, alone)

        def split(item: Item[Batch], exc: BaseException) -> list[Item[Batch]] | None:
            batch = item.value[0]
            if not isinstance(exc, MetaApiError) or not exc.too_big or len(batch) <= HALVING_FLOOR:
                return None
            half = (len(batch) + 1) // 2
            log.warning(
                "%s: Meta found a batch of %d rows too big (#%s); sending it in halves", self.name, len(batch), exc.code
            )
            a, b = batch[:half], batch[half:]
            return [Item((a, self._rows(a)), False, item.alone), Item((b, self._rows(b)), item.last, item.alone)]

        send_all(
            items(),
            send,
            lambda item, resp: record(item.value[0], resp),
            cap=self.cap,
            width=self.client.governor.allowed,
            check=self._check_stop,
            split=split,
        )

    def _invalid(self, resp: dict[str, Any]) -> None:
        """Meta's count of invalid entries of one batch (a range on Meta: the lower bound, when it is one)."""
        n = resp.get("num_invalid_entries")
        if isinstance(n, str) and "-" in n:
            n = n.split("-", 1)[0]
        self.invalid += as_int(n) or 0
        samples = resp.get("invalid_entry_samples")
        items = list(samples.items()) if isinstance(samples, dict) else [(s, "") for s in samples or []]
        for value, reason in items[: 3 - len(self.samples)]:  # masked: hashes and identifiers never kept
            self.samples.append(scrub(f"{value}{': ' + str(reason) if reason else ''}")[:120])

    def _rows(self, batch: Sequence[Pair]) -> list[tuple[str, ...]]:
        if len(batch) > MAX_ROWS_PER_CALL:
            raise ValueError(f"a batch holds at most {MAX_ROWS_PER_CALL:,} rows")
        width = len(self.schema)
        return [self.cipher.decrypt(enc)[:width] for _, enc in batch]

    def _check_stop(self) -> None:
        """Before each send: a stop asked for (SIGTERM/SIGINT) ends the run between batches, once the batches in
        flight are recorded."""
        if self.stop.is_set():
            raise Interrupted(
                f"{self.name}: stopped between batches when asked to (+{self.added:,} "
                f"−{self.removed:,} recorded); the next run sends the rest."
            )
