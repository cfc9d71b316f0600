"""Does the judge run test cells outside the kernel, reach it only through the probe, and keep
its answers to itself?

A `Judge` here drives a "kernel" that is a plain namespace answered by `probe.answer` (what the
student's kernel runs), through JSON, as nbgrader's Execute step drives a real one; grading real
notebooks through nbgrader is tests/grading/test_grading.py's and tests/grading/test_hostile_grading.py's job.
"""

import base64
import io
import json

import numpy as np
import pytest
import tensorflow as tf
from nbformat.v4 import new_code_cell, new_notebook

from tfladder import probe, wire
from tfladder.checks import CheckFailed
from tfladder.grading import judge


def cell(source, gid=None, *, test=False, solution=False, points=1):
    made = new_code_cell(source)
    if gid:
        made.metadata["nbgrader"] = {
            "grade_id": gid,
            "grade": test,
            "solution": solution,
            "locked": test,
            "points": points if test else 0,
            "schema_version": 3,
        }
    return made


def notebook(student_code, tests):
    cells = [cell("def square(x):\n    raise NotImplementedError()", "ex_square", solution=True)]
    cells += [cell(code, gid, test=True) for gid, code in tests.items()]
    return new_notebook(cells=cells)


class Kernel:
    """A student's kernel: their namespace, answering requests the way `probe.serve` does."""

    def __init__(self, student_code):
        self.namespace = {"tf": tf, "np": np}
        exec(student_code, self.namespace)
        self.requests = []

    def send(self, request):
        self.requests.append(request)
        return json.loads(json.dumps(probe.answer(json.loads(json.dumps(request)), self.namespace)))


def run(student_code, tests, **kwargs):
    """Judge every test; {grade id: outputs}, the flags, the kernel."""
    kernel, flags = Kernel(student_code), []
    nb = notebook(student_code, tests)
    j = judge.Judge(nb, tests, kernel.send, flag=flags.append, **kwargs)
    outputs = {
        gid: j.test(gid, index) for index, gid in ((i, judge_id(c)) for i, c in enumerate(nb.cells)) if gid in tests
    }
    return outputs, flags, kernel


def judge_id(c):
    return c.metadata.get("nbgrader", {}).get("grade_id")


def failure(outputs):
    errors = [o for o in outputs if o["output_type"] == "error"]
    return errors[0]["evalue"] if errors else None


VALUES = """
### BEGIN HIDDEN TESTS
expected = 4.0 * np.arange(3.0) ** 2
got = probe.run("square(2 * x)", x=np.arange(3.0))
checks.close(got, expected, "square(2x)", tol=(1e-6, 1e-6))
print("values OK")
### END HIDDEN TESTS
"""


def test_does_a_passing_test_print_and_a_failing_one_raise_in_the_students_words():
    outputs, flags, _ = run("def square(x):\n    return x * x", {"ex_square_values": VALUES})
    assert outputs["ex_square_values"][0]["text"] == "values OK\n" and failure(outputs["ex_square_values"]) is None
    outputs, flags, _ = run("def square(x):\n    return 2 * x", {"ex_square_values": VALUES})
    assert "square(2x) has the wrong values" in failure(outputs["ex_square_values"]) and flags == []


def test_does_nothing_that_knows_the_answer_reach_the_kernel():
    _, _, kernel = run("def square(x):\n    return x * x", {"ex_square_values": VALUES})
    sent = json.dumps(kernel.requests)
    assert "expected" not in sent and "checks" not in sent and "1e-06" not in sent
    [request] = kernel.requests
    assert request["code"] == "square(2 * x)" and set(request["inputs"]) == {"x"}


def test_does_a_test_that_breaks_say_so_without_blaming_the_student():
    outputs, flags, _ = run("def square(x):\n    return x", {"ex_square_values": "undefined_name + 1"})
    assert "could not judge your answer" in failure(outputs["ex_square_values"])
    assert "the test could not judge this notebook (NameError" in flags[0]


def test_is_a_message_that_quotes_the_hidden_tests_withheld():
    leak = (
        "def square(x):\n    raise ValueError('expected = 4.0 * np.arange(3.0) ** 2 "
        'checks.close(got, expected, "square(2x)", tol=(1e-6, 1e-6))\')'
    )
    outputs, flags, _ = run(leak, {"ex_square_values": VALUES})
    assert "withheld" in failure(outputs["ex_square_values"]) and "np.arange" not in failure(
        outputs["ex_square_values"]
    )
    assert any("quoted the hidden tests" in f for f in flags)


def test_is_a_lost_kernel_not_swallowed_by_a_tests_own_except():
    def lost(request):
        raise judge.KernelLost(RuntimeError("the kernel died"))

    nb = notebook("", {"ex_square_values": "try:\n    probe.run('1')\nexcept Exception:\n    pass"})
    j = judge.Judge(nb, {"ex_square_values": nb.cells[1].source}, lost)
    with pytest.raises(judge.KernelLost):
        j.test("ex_square_values", 1)


STANDIN = """
### BEGIN HIDDEN TESTS
probe.register_standin("square", "def square(x):\\n    return x * x\\n")
### END HIDDEN TESTS
"""


def test_is_a_stand_in_sent_only_after_its_exercise_was_judged():
    tests = {
        "ex_square_values": STANDIN,
        "ex_square_api": "probe.isolate('square')",
        "ex_cube_values": "probe.isolate('square')\nprint(probe.run('square(3)'))",
    }
    kernel, flags = Kernel("def square(x):\n    return -1"), []
    nb = notebook("", tests)
    nb.cells.insert(3, cell("def cube(x):\n    return x * square(x)", "ex_cube", solution=True))
    j = judge.Judge(nb, tests, kernel.send, flag=flags.append)
    j.test("ex_square_values", 1)
    early = j.test("ex_square_api", 2)  # the same exercise: refused
    assert "could not judge" in failure(early) and "not available to ex_square_api" in flags[0]
    late = j.test("ex_cube_values", 4)
    assert late[0]["text"] == "9\n", "a later exercise runs with the stand-in in place"
    assert kernel.namespace["square"](3) == -1, "the student's own function is back afterwards"
    assert [r["standins"] for r in kernel.requests] == [[["square", "def square(x):\n    return x * x\n"]]]


def test_are_replies_plain_data_only():
    class Dangerous:
        def __reduce__(self):
            return (print, ("unpickled!",))

    assert wire.decode(wire.encode(Dangerous())).type_name == "Dangerous"
    buffer = io.BytesIO()
    np.save(buffer, np.array([Dangerous()], dtype=object), allow_pickle=True)
    forged = {"t": "array", "kind": "ndarray", "type": "ndarray", "npy": base64.b64encode(buffer.getvalue()).decode()}
    with pytest.raises(wire.WireError):
        wire.decode(forged)
    with pytest.raises(wire.WireError):
        wire.decode({"t": "int", "v": "1; import os"})


def test_does_a_kernel_that_answers_nonsense_fail_only_that_test():
    client = judge.RemoteProbe(judge.Judge(notebook("", {}), {}, lambda r: None), lambda r: {"value": {"t": "??"}})
    with pytest.raises(CheckFailed, match="not plain data"):
        client.run("1")


def test_does_an_answer_left_as_released_earn_nothing_whatever_the_kernel_says():
    forged = {"value": wire.encode(np.zeros(3))}
    stub = 'def square(x):\n    """x squared."""\n    # YOUR CODE HERE\n    raise NotImplementedError()'
    nb = notebook("", {"ex_square_values": VALUES})
    nb.cells[0].source = stub
    j = judge.Judge(nb, {"ex_square_values": VALUES}, lambda request: forged, stubs={"ex_square": stub})
    assert failure(j.test("ex_square_values", 1)).startswith("square is not written yet")
    nb.cells.insert(1, cell("def square(x):\n    return x * x"))  # answered in a cell of one's own
    j = judge.Judge(nb, {"ex_square_values": VALUES}, lambda request: forged, stubs={"ex_square": stub})
    assert "has the wrong values" in failure(j.test("ex_square_values", 2)), "then the kernel is asked"
    nb.cells[0].source = nb.cells[1].source = "get_ipython().input_transformers_post.append(forger)"
    j = judge.Judge(nb, {"ex_square_values": VALUES}, lambda request: forged, stubs={"ex_square": stub})
    assert failure(j.test("ex_square_values", 2)).startswith("square is not defined"), "no definition at all"
