"""Build one camera-day:  doit camera=NAME date=YYYY-MM-DD [config=PATH] [offline=1] [quiet=1]

Also: doit list / info / clean camera=.. date=.., or name one task (e.g. `render`).
The tasks themselves live in the tlbuild package.
"""

from doit import get_var

from tlbuild.doit_vars import namespace_from_vars

globals().update(namespace_from_vars(get_var))
