import pytest

import sabre
from sabre import errors


def test_errors_one_class_per_status_code():
    seen = set()
    for status in range(-1, -25, -1):
        cls = sabre.error_class(status)
        assert cls is not sabre.SabreError, status
        assert issubclass(cls, sabre.SabreError) and cls.status == status
        assert cls.name == sabre.ffi.string(sabre.lib.sabre_status_name(status)).decode()
        seen.add(cls)
    assert len(seen) == 24


def test_errors_unknown_status_is_the_base_class():
    assert sabre.error_class(-999) is sabre.SabreError


def test_errors_message_is_the_last_error_of_the_failing_call(region):
    with pytest.raises(sabre.NotFoundError) as ei:
        region.find("missing")
    e = ei.value
    assert e.status == sabre.lib.SABRE_ENOENT and e.name == "SABRE_ENOENT"
    assert "missing" in e.message and str(e).startswith("SABRE_ENOENT: ")
    assert sabre.last_error() == e.message


def test_errors_check_passes_ok_and_raises_negative():
    assert errors.check(0) == 0
    with pytest.raises(sabre.CorruptError):
        errors.check(sabre.lib.SABRE_ECORRUPT)
