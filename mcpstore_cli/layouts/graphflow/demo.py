"""Demo data in GraphFlow's layout: sessions of a few realistic graphs, each at a task, with
a context holding the workflow's data and a chat history (role, content, timestamp).

``events_per_session`` is the number of chat messages per session; ``idle_share`` of the
sessions were last updated hours ago. GraphFlow has no terminated state: the terminated share
is read as sessions parked at their graph's last task with a final status message.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Iterator

from mcpstore_cli.errors import Interrupted
from mcpstore_cli.layouts.graphflow.records import MAX_MESSAGES, message_time
from mcpstore_cli.model.demo import DemoPlan
from mcpstore_cli.model.records import Event, Session

# graph id -> its tasks in order
GRAPHS: dict[str, list[str]] = {
    "customer_support": [
        "classify_intent",
        "lookup_order",
        "draft_reply",
        "await_customer",
        "close_ticket",
    ],
    "insurance_claims": [
        "collect_claim_details",
        "validate_policy",
        "assess_damage",
        "human_review",
        "settle_claim",
    ],
    "recipe_recommender": ["parse_preferences", "search_recipes", "rank_recipes", "answer_user"],
    "travel_planner": ["gather_dates", "find_flights", "find_hotels", "build_itinerary"],
    "code_review": ["fetch_diff", "static_checks", "llm_review", "post_comments"],
}

_USER_LINES = [
    "My order #{n} arrived damaged, can you help?",
    "I'd like to file a claim for the hail damage on my car.",
    "Something vegetarian for four people, under 40 minutes please.",
    "I want to fly to Lisbon around the {n}th and stay five nights.",
    "Can you review PR {n}? It touches the billing module.",
    "Yes, that works for me.",
    "Actually, make it gluten-free as well.",
    "What's the status of my request?",
]
_ASSISTANT_LINES = [
    "Thanks, I found order #{n}. I'm sorry it arrived damaged.",
    "I've recorded your claim. Could you upload photos of the damage?",
    "Here are three recipes that match: a chickpea curry, a mushroom risotto and a veggie "
    "stir-fry.",
    "I found {n} flights that fit your dates; the cheapest leaves at 07:40.",
    "The diff looks good overall; two functions lack tests.",
    "Your policy is active and covers this kind of damage.",
    "Done. Anything else I can help with?",
]
_SYSTEM_LINES = [
    "You are a helpful assistant working through the {graph} workflow.",
]
_STATUS = {
    "await_customer": "Waiting for the customer's reply",
    "human_review": "Waiting for an adjuster to approve",
    "find_flights": "Searching flights",
    "llm_review": "Reviewing the diff",
}


def _data(rng: random.Random, graph: str, step: int) -> dict[str, object]:
    base: dict[str, object] = {"step": step, "user_id": f"user-{rng.randrange(1, 5000):04d}"}
    if graph == "customer_support":
        base.update(order_id=f"ORD-{rng.randrange(10_000, 99_999)}", intent="damaged_item")
    elif graph == "insurance_claims":
        base.update(
            claim_id=f"CLM-{rng.randrange(100_000, 999_999)}",
            policy_number=f"POL-{rng.randrange(1_000_000, 9_999_999)}",
            estimated_damage=round(rng.uniform(300, 12_000), 2),
        )
    elif graph == "recipe_recommender":
        base.update(diet="vegetarian", servings=rng.choice([2, 4, 6]), max_minutes=40)
    elif graph == "travel_planner":
        base.update(destination=rng.choice(["Lisbon", "Kyoto", "Reykjavik"]), nights=5)
    else:
        base.update(repository="acme/billing", pull_request=rng.randrange(100, 4000))
    return base


def _messages(
    rng: random.Random, graph: str, count: int, created: int, updated: int
) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    span = max(updated - created, count)
    for i in range(count):
        ms = created + (span * (i + 1)) // (count + 1) if count else created
        if i == 0:
            role, line = "system", _SYSTEM_LINES[0]
        elif i % 2 == 1:
            role, line = "user", rng.choice(_USER_LINES)
        else:
            role, line = "assistant", rng.choice(_ASSISTANT_LINES)
        text = line.format(n=rng.randrange(10, 30), graph=graph)
        out.append({"role": role, "content": text, "timestamp": message_time(ms)})
    return out


def make_session(rng: random.Random, now: int, plan: DemoPlan, kind: str) -> Session:
    """One session: ``kind`` is ``active``, ``idle`` or ``terminated`` (finished)."""
    graph = rng.choice(sorted(GRAPHS))
    tasks = GRAPHS[graph]
    created = now - rng.randrange(60_000, max(plan.span_ms, 120_000))
    if kind == "active":
        updated = max(created, now - rng.randrange(0, 20 * 60_000))
    else:
        updated = min(now, created + rng.randrange(1_000, 3 * 3_600_000))
        updated = min(updated, now - 35 * 60_000) if kind == "idle" else updated
        updated = max(updated, created)
    step = len(tasks) - 1 if kind == "terminated" else rng.randrange(len(tasks))
    task = tasks[step]
    status = "Workflow completed" if kind == "terminated" else _STATUS.get(task)
    count = plan.events_per_session
    session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return Session(
        session_id=session_id,
        created_at=created,
        last_activity=updated,
        is_initialized=True,
        state={
            "graph_id": graph,
            "current_task_id": task,
            "status_message": status,
            "data": _data(rng, graph, step),
        },
        metadata={
            "chat_history": {
                "messages": _messages(rng, graph, count, created, updated),
                "max_messages": MAX_MESSAGES,
            }
        },
        event_count=count,
    )


def generate(plan: DemoPlan, now: int) -> Iterator[tuple[list[Session], list[Event]]]:
    """Batches of sessions (no events: the chat history is inside each session)."""
    rng = random.Random(plan.seed)
    per_batch = max(1, plan.batch_rows // max(1, plan.events_per_session + 1))
    batch: list[Session] = []
    for i in range(plan.sessions):
        r = rng.random()
        kind = (
            "idle"
            if r < plan.idle_share
            else "terminated"
            if r < plan.idle_share + plan.terminated_share
            else "active"
        )
        batch.append(make_session(rng, now, plan, kind))
        if len(batch) >= per_batch or i == plan.sessions - 1:
            yield batch, []
            batch = []


class DemoBatches:
    """What ``Store.write_demo`` takes: an async iterator of (sessions, events) batches."""

    def __init__(self, plan: DemoPlan, now: int) -> None:
        self.plan = plan
        self.now = now

    def __aiter__(self) -> AsyncIterator[tuple[list[Session], list[Event]]]:
        return self._run()

    async def _run(self) -> AsyncIterator[tuple[list[Session], list[Event]]]:
        for batch in generate(self.plan, self.now):
            yield batch


def live_event(rng: random.Random, session_id: str, now: int, step: int) -> Event:
    """A chat message to append to a session (``demo --live``)."""
    role = "user" if step % 2 == 0 else "assistant"
    line = rng.choice(_USER_LINES if role == "user" else _ASSISTANT_LINES)
    return Event(session_id, 0, now, role, line.format(n=rng.randrange(10, 30), graph=""))


def demo_kept(sessions: int, batches: int) -> Interrupted:
    return Interrupted(
        f"the demo wrote {sessions:,} GraphFlow sessions in {batches:,} whole batches; "
        "they stay in the store."
    )
