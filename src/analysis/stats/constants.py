"""Method constants shared by several statistics (choices, each with its reason)."""

from __future__ import annotations

ALPHA_LEVEL = 0.05


#: Fewest errors in the hour for any model to be fitted.
MIN_ERRORS = 5


#: Fewest minutes in a window for the per-minute models (lagged fits, circular-shift nulls);
#: a shorter window gets no statistics, and the audit says so (``window_too_short``).
MIN_MINUTES = 17


#: Requests of 0 in a minute are raised to this exposure (rate per request needs exposure > 0).
MIN_EXPOSURE = 0.5
