"""devstack.demo reads the README's walkthrough blocks, runs them in one bash and checks the answers shown."""

from __future__ import annotations

import textwrap

import pytest
from devstack.demo import WalkthroughError, extract, matches, run

README = textwrap.dedent(
    """\
    # Title

    ## First

    ```bash walkthrough
    GREETING=hello
    # a note
    echo "$GREETING" \\
      world
    # -> hello world
    say() { echo "{\\"said\\": \\"$1\\", \\"n\\": 1}"; }
    say hi
    # -> {"said": "hi",
    #     ...}
    ```

    ```bash
    not a walkthrough
    ```

    ### Second

    ```bash walkthrough
    echo "$GREETING again"
    # -> hello again
    ```
    """
)


def test_blocks_are_cut_into_commands_with_the_answers_they_show_when_the_readme_is_read() -> None:
    walkthroughs = extract(README)

    assert [w.title for w in walkthroughs] == ["First", "Second"]
    first = walkthroughs[0].commands
    assert [c.text for c in first] == ["GREETING=hello", 'echo "$GREETING" \\\n  world', first[2].text, "say hi"]
    assert first[1].expected == "hello world" and first[0].notes == ["# a note"]
    assert first[3].expected == '{"said": "hi", ...}'


def test_answers_match_when_only_blanks_and_elided_parts_differ() -> None:
    assert matches('{"id": "co_...", "n": 1}', '{"id":"co_1a2b","n":1}\n')
    assert not matches('{"id": "co_...", "n": 1}', '{"id":"co_1a2b","n":2}')
    assert not matches("S", "Error")


def test_every_command_runs_in_one_shell_and_prints_with_its_answer_when_the_answers_match() -> None:
    result = run(extract(README), {}, echo=False)

    assert result.ok, result.output
    assert result.ran == result.total == 5
    assert '$ echo "$GREETING again"\nhello again\n' in result.output


def test_the_run_fails_and_names_the_answer_when_an_answer_differs_from_the_readme() -> None:
    result = run(extract(README.replace("# -> hello again", "# -> goodbye")), {}, echo=False)

    assert not result.ok
    assert [(m.walkthrough, m.expected, m.actual) for m in result.mismatches] == [("Second", "goodbye", "hello again")]


def test_the_run_stops_at_the_failing_command_when_a_step_fails() -> None:
    broken = README.replace("say hi\n", "say hi\nfalse\n")

    result = run(extract(broken), {}, echo=False)

    assert result.returncode != 0 and not result.ok
    assert result.ran == 4 and result.total == 6
    assert "hello again" not in result.output


def test_a_block_that_ends_inside_a_command_is_refused_when_the_readme_is_read() -> None:
    with pytest.raises(WalkthroughError, match="ends inside a command"):
        extract("## T\n\n```bash walkthrough\necho 'unclosed\n```\n")
