"""Accounts and grants (docs/adr/0052, 0053): which account acts for which region, school, venue
or career event (grants issued and revoked by the accounts above them), which participant an
account is and which children it may act for (account links), and the claims the identity
provider puts into the account's next token.

The deciders are identity's own (`bilet_identity.domain.grants`, `bilet_identity.domain.accounts`)
and their events stay in identity's internal streams; this package holds their use cases and
their HTTP API, wired by `bilet_identity.app`.
"""
