"""Errors the CLI turns into exit codes: 1 failure, 2 bad input, 3 the operator must choose."""


class GovmailError(Exception):
    exit_code = 1


class BadInput(GovmailError):
    """Input that cannot be used as given: a profile typo, an unknown province, a bad name."""

    exit_code = 2


class OperatorChoice(GovmailError):
    """The regulation leaves the decision to the operator; carries what was tried."""

    exit_code = 3

    def __init__(self, message: str, tried: list[str] | None = None):
        super().__init__(message)
        self.tried = tried or []
