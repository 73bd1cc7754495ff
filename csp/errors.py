"""The error every csp problem a user can fix derives from.

The CLI turns a :class:`CspError` into one line naming the offending key or value and
a non-zero exit; library code raises, it never exits.
"""


class CspError(ValueError):
    """A user-fixable problem: bad input, impossible request, missing resource."""
