"""What the claims endpoint asks about an account beyond its grants: the participant the account
is (a pupil's own account) and the children it may act for (a guardian's). The pupils' and
guardians' accounts (docs/adr/0053) provide the real answer; `NoAccountLinks` answers for a
deployment without them: no account is a pupil or a guardian."""

from typing import Protocol


class AccountLinks(Protocol):
    async def participant_of(self, subject: str) -> str | None:
        """The participant id (canonical UUID text) the account is bound to, if any."""
        ...

    async def children_of(self, subject: str) -> frozenset[str]:
        """The participant ids the account is entitled to act for as their guardian."""
        ...


class NoAccountLinks:
    """No account is bound to a participant or entitled to a child."""

    async def participant_of(self, subject: str) -> str | None:
        return None

    async def children_of(self, subject: str) -> frozenset[str]:
        return frozenset()
