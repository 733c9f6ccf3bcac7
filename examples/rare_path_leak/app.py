"""Every 25th call takes a rare path that opens a spill file and never closes it.

A slow staircase: 0.04 descriptors per invocation, one step every 25 invocations.
"""

_calls = 0
_spills = []


def handler(event, context):
    global _calls
    _calls += 1
    if _calls % 25 == 0:
        _spills.append(open("/tmp/spill.log", "a"))
    return {"statusCode": 200}
