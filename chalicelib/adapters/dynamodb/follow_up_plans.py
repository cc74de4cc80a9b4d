"""``FollowUpPlans`` on DynamoDB (table ``his``, see ``models.HisItem``): when each visit's follow-up is due.

* a plan ......... pk = "followup#<visit_id>", sk = "plan"; ``version`` the visit version, ``state``
                   planned | cancelled, ``data`` the plan; TTL ``expires_at`` 90 days after it is due
* due on a day ... pk = "followup_due#<YYYY-MM-DD>" (Shanghai date), sk = "<visit_id>": an index the
                   sender queries; it may point at a plan since moved or cancelled, so ``due_on``
                   re-reads each plan and keeps only those still planned for that day

The plan write is conditional on the visit version (newest wins; the same version again is a retry).
"""

from __future__ import annotations

from datetime import timedelta

from pynamodb.exceptions import PutError

from chalicelib.adapters.dynamodb.his_event_ledger import conditional_failed
from chalicelib.adapters.dynamodb.models import HisItem
from chalicelib.domain.his_events import SHANGHAI, FollowUpPlan, FollowUpState

SK = "plan"
KEEP = timedelta(days=90)


def _day(plan: FollowUpPlan) -> str:
    return plan.due_at.astimezone(SHANGHAI).date().isoformat()


class DynamoFollowUpPlans:
    def __init__(self, model: type[HisItem]) -> None:
        self._model = model

    def save(self, plan: FollowUpPlan) -> bool:
        m = self._model
        expires = int((plan.due_at + KEEP).timestamp())
        item = m(f"followup#{plan.visit_id}", SK, version=plan.version, state=plan.state.value, data=plan.to_json(),
                 expires_at=expires)
        try:
            item.save(condition=m.pk.does_not_exist() | (m.version <= plan.version))
        except PutError as exc:
            if conditional_failed(exc):
                return False
            raise
        if plan.state is FollowUpState.PLANNED:
            m(f"followup_due#{_day(plan)}", plan.visit_id, version=plan.version, expires_at=expires).save()
        return True

    def get(self, visit_id: str) -> FollowUpPlan | None:
        try:
            item = self._model.get(f"followup#{visit_id}", SK, consistent_read=True)
        except self._model.DoesNotExist:
            return None
        return FollowUpPlan.from_json(item.data)

    def due_on(self, day: str) -> list[FollowUpPlan]:
        plans = []
        for pointer in self._model.query(f"followup_due#{day}"):
            plan = self.get(pointer.sk)
            if plan is not None and plan.state is FollowUpState.PLANNED and _day(plan) == day:
                plans.append(plan)
        return plans
