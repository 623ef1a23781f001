"""Firehose S3 prefixes, against the AWS documentation.

Pages cited below (Amazon Data Firehose Developer Guide unless said otherwise):
- S3P: "Understand custom prefixes for Amazon S3 objects",
  https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html (examples read from the
  awsdocs/amazon-kinesis-data-firehose-developer-guide repository, doc_source/s3-prefixes.md;
  two revisions of its example table, 44e9023 and 98e34e0, are both used)
- DPP: "Use Amazon S3 bucket prefix to deliver data",
  https://docs.aws.amazon.com/firehose/latest/dev/dynamic-partitioning-s3bucketprefix.html
- DPE: "Troubleshoot dynamic partitioning errors",
  https://docs.aws.amazon.com/firehose/latest/dev/dynamic-partitioning-error-handling.html
- OBJ: "Configure Amazon S3 object name format",
  https://docs.aws.amazon.com/firehose/latest/dev/s3-object-name.html
- ATH: Athena User Guide, "How to use custom prefixes and dynamic partitioning",
  https://docs.aws.amazon.com/athena/latest/ug/partition-projection-kinesis-firehose-example-using-custom-prefixes-and-dynamic-partitioning.html
- JDK: java.time.format.DateTimeFormatter / DateTimeFormatterBuilder.appendPattern (Java 8).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from tidelake.delivery.errors import EvaluatedPrefixTooLong, PartitionKeyMissing, PrefixEvaluationFailed, PrefixInvalid
from tidelake.delivery.prefix import (
    DEFAULT_TIME_PREFIX,
    MSG_BAD_SEQUENCE,
    MSG_DP_NEEDS_PARTITION_KEYS,
    MSG_ERROR_PREFIX_NEEDS_TYPE,
    MSG_ERROR_PREFIX_REQUIRED,
    MSG_NO_ERROR_TYPE_IN_PREFIX,
    MSG_NO_PARTITION_KEYS_IN_ERROR_PREFIX,
    MSG_PARTITION_KEYS_NEED_DP,
    Expression,
    Literal,
    effective_error_prefix,
    effective_prefix,
    evaluate,
    new_random_string,
    object_name,
    parse,
    validate_prefixes,
)
from tidelake.errors import InvalidArgument, Unsupported, ValidationFailed


def at(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


# S3P's table header: "Evaluated prefix (at 10:30 AM UTC on Aug 27, 2018)".
AUG_27 = at(2018, 8, 27, 10, 30)


def fixed(value: str):
    return lambda: value


def full(prefix, error_prefix, when, *, random=None, dp=False):
    """Validate, then evaluate both templates the way the delivery engine will."""
    validate_prefixes(prefix, error_prefix, dp)
    data = evaluate(effective_prefix(prefix, dp), timestamp=when, random_string=random)
    error = evaluate(effective_error_prefix(prefix, error_prefix), timestamp=when,
                     error_output_type="processing-failed", random_string=random)
    return data, error


# --- S3P "Example prefixes" table, row by row ---------------------------------------------------------

def test_s3p_row_prefix_unspecified():
    """S3P row 1: Prefix unspecified, ErrorOutputPrefix ``myFirehoseFailures/!{firehose:error-output-type}/``.

    The table shows ``2018/08/27/10`` (revision 98e34e0; 44e9023 printed ``2018/08/10/``); the
    semantic rules append ``!{timestamp:yyyy/MM/dd/HH/}``, trailing slash included, which we follow.
    The error prefix gets no time appended, as the table shows.
    """
    assert full(None, "myFirehoseFailures/!{firehose:error-output-type}/", AUG_27) == (
        "2018/08/27/10/", "myFirehoseFailures/processing-failed/")


def test_s3p_row_expressions_without_error_prefix_are_invalid():
    """S3P row 2: ``!{timestamp:yyyy/MM/dd}`` with no ErrorOutputPrefix is invalid input.

    The message is the service's own, as reported from CreateDeliveryStream (terraform-provider-aws
    PR #13416, serverless issue #6015), typo included.
    """
    with pytest.raises(PrefixInvalid) as e:
        validate_prefixes("!{timestamp:yyyy/MM/dd}", None, False)
    assert e.value.message == (
        "Ths supplied prefix(es) do not satisfy the following constraint: "
        "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions")
    assert e.value.field == "ErrorOutputPrefix"
    with pytest.raises(PrefixInvalid, match="null or empty"):
        validate_prefixes("!{timestamp:yyyy/MM/dd}", "", False)


def test_s3p_row_random_string_and_any_month():
    """S3P row 3. The table's ``!{timestamp:dd}`` -> ``10`` contradicts its own Aug 27 header, so this
    row is evaluated on Aug 10, 2018; the random string is the table's ``5abf82daaa5``."""
    assert full(
        "myFirehose/DeliveredYear=!{timestamp:yyyy}/anyMonth/rand=!{firehose:random-string}",
        "myFirehoseFailures/!{firehose:error-output-type}/!{timestamp:yyyy}/anyMonth/!{timestamp:dd}",
        at(2018, 8, 10, 10, 30), random=fixed("5abf82daaa5"),
    ) == ("myFirehose/DeliveredYear=2018/anyMonth/rand=5abf82daaa5",
          "myFirehoseFailures/processing-failed/2018/anyMonth/10")


def test_s3p_row_hive_style_partitions():
    """S3P row 4 (revision 98e34e0); its output shows 2018-07-06 23h, evaluated at that hour."""
    assert full(
        "myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/",
        "myErrorPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
        "!{firehose:error-output-type}",
        at(2018, 7, 6, 23, 30),
    ) == ("myPrefix/year=2018/month=07/day=06/hour=23/",
          "myErrorPrefix/year=2018/month=07/day=06/hour=23/processing-failed")


def test_s3p_row_hive_style_partitions_with_quoted_literals():
    """S3P row 4 as revision 44e9023 wrote the error prefix: one timestamp expression with quoted literals
    (semantic rule: "any string escaped with single quotes in the value field is taken literally")."""
    assert full(
        "myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/",
        "myErrorPrefix/!{timestamp:'year='yyyy'/month='MM'/day='dd'/hour='HH}/!{firehose:error-output-type}",
        at(2018, 7, 6, 23, 30),
    ) == ("myPrefix/year=2018/month=07/day=06/hour=23/",
          "myErrorPrefix/year=2018/month=07/day=06/hour=23/processing-failed")


def test_s3p_row_literal_prefix_without_error_prefix():
    """S3P row 5: Prefix ``myFirehosePrefix``, ErrorOutputPrefix unspecified.

    The table shows ``myFirehosePrefix/2018/08/27/`` and ``myFirehosePrefix/processing-failed/2018/08/27/``,
    which break the semantic rules it illustrates (no slash is inserted after the specified prefix,
    and the appended time ends with the hour: "Prefix evaluates to <specified-prefix>YYYY/MM/DD/HH/
    and ErrorOutputPrefix evaluates to <specified-prefix><error-output-type>YYYY/MM/DD/HH/"). We
    follow the rules, with the slash after the error type that the table and the console use.
    """
    assert full("myFirehosePrefix", None, AUG_27) == (
        "myFirehosePrefix2018/08/27/10/", "myFirehosePrefixprocessing-failed/2018/08/27/10/")
    assert full("myFirehosePrefix/", None, AUG_27) == (
        "myFirehosePrefix/2018/08/27/10/", "myFirehosePrefix/processing-failed/2018/08/27/10/")


# --- S3P namespaces --------------------------------------------------------------------------------------

def test_s3p_timestamp_namespace_example():
    """S3P: "in the year 2018, the expression !{timestamp:yyyy} evaluates to 2018"."""
    assert evaluate("!{timestamp:yyyy}", timestamp=AUG_27) == "2018"


def test_s3p_every_timestamp_instance_is_the_same_instant():
    """S3P: "every instance evaluates to the same instant in time" (here: the last second of a year)."""
    assert evaluate("!{timestamp:yyyy}/!{timestamp:MM-dd HH:mm:ss}/!{timestamp:yyyy}",
                    timestamp=at(2018, 12, 31, 23, 59, 59)) == "2018/12-31 23:59:59/2018"


def test_s3p_error_output_type_example():
    """S3P firehose-namespace table: ``myPrefix/result=!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}``
    -> ``myPrefix/result=processing-failed/2018/08/03``; every instance is the same error string."""
    template = "myPrefix/result=!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}"
    validate_prefixes(None, template, False)
    assert evaluate(template, timestamp=at(2018, 8, 3, 12), error_output_type="processing-failed") == (
        "myPrefix/result=processing-failed/2018/08/03")
    assert evaluate("!{firehose:error-output-type}/!{firehose:error-output-type}", timestamp=AUG_27,
                    error_output_type="format-conversion-failed") == "format-conversion-failed/format-conversion-failed"


def test_s3p_random_string_example_with_injected_generator():
    """S3P firehose-namespace table: ``myPrefix/!{firehose:random-string}/`` -> ``myPrefix/046b6c7f-0b/``."""
    assert evaluate("myPrefix/!{firehose:random-string}/", timestamp=AUG_27,
                    random_string=fixed("046b6c7f-0b")) == "myPrefix/046b6c7f-0b/"


def test_s3p_random_string_shape_and_freshness():
    """S3P: "a random string of 11 characters ... every instance evaluates to a new random string".
    The page does not name an alphabet; its examples (``5abf82daaa5``) are lowercase hex."""
    assert re.fullmatch(r"[0-9a-f]{11}", new_random_string())
    first, second = evaluate("!{firehose:random-string}/!{firehose:random-string}", timestamp=AUG_27).split("/")
    assert re.fullmatch(r"[0-9a-f]{11}", first) and re.fullmatch(r"[0-9a-f]{11}", second)
    assert first != second


def test_random_string_can_be_used_in_both_prefix_types():
    """S3P: random-string "You can use it with both prefix types"."""
    validate_prefixes("!{firehose:random-string}/!{timestamp:yyyy}/",
                      "!{firehose:random-string}/!{firehose:error-output-type}/", False)


def test_error_output_type_must_be_given_when_used():
    with pytest.raises(InvalidArgument):
        evaluate("!{firehose:error-output-type}/", timestamp=AUG_27)


# --- Default time prefix (S3P semantic rules; OBJ) -------------------------------------------------------

@pytest.mark.parametrize("prefix", [None, ""])
def test_default_prefix_when_unspecified(prefix):
    """OBJ: "Firehose adds a default time prefix in the format YYYY/MM/dd/HH"."""
    assert effective_prefix(prefix, False) == DEFAULT_TIME_PREFIX
    assert evaluate(effective_prefix(prefix, False), timestamp=AUG_27) == "2018/08/27/10/"


def test_default_time_is_appended_to_prefix_without_timestamp_expression():
    """S3P rule: a prefix without a timestamp expression gets ``!{timestamp:yyyy/MM/dd/HH/}`` appended,
    whatever other expressions it has."""
    assert effective_prefix("logs/", False) == "logs/" + DEFAULT_TIME_PREFIX
    template = effective_prefix("rand=!{firehose:random-string}/", False)
    assert evaluate(template, timestamp=AUG_27, random_string=fixed("x" * 11)) == "rand=xxxxxxxxxxx/2018/08/27/10/"


def test_no_default_time_when_prefix_has_timestamp_expression():
    """S3P: "Custom prefix you specify will override the default prefix"."""
    assert effective_prefix("dt=!{timestamp:yyyy-MM-dd}/", False) == "dt=!{timestamp:yyyy-MM-dd}/"


def test_no_default_time_with_dynamic_partitioning():
    """DPP: the example object key is the evaluated prefix followed directly by the object name."""
    prefix = "customer_id=!{partitionKeyFromQuery:customer_id}/"
    assert effective_prefix(prefix, True) == prefix


def test_error_prefix_is_used_as_given():
    assert effective_error_prefix("p/", "err/!{firehose:error-output-type}/") == "err/!{firehose:error-output-type}/"


# --- Validation rules -------------------------------------------------------------------------------------

def test_prefix_cannot_contain_error_output_type():
    """S3P rules: "Prefix can't contain !{firehose:error-output-type}"; the table: "can only be used in the
    ErrorOutputPrefix field"."""
    with pytest.raises(PrefixInvalid) as e:
        validate_prefixes("a/!{firehose:error-output-type}/", "e/!{firehose:error-output-type}/", False)
    assert (e.value.message, e.value.field) == (MSG_NO_ERROR_TYPE_IN_PREFIX, "Prefix")


def test_error_prefix_expression_needs_error_output_type():
    """S3P rules: "If you specify an expression for ErrorOutputPrefix, you must include at least one
    instance of !{firehose:error-output-type}". A literal error prefix is fine."""
    with pytest.raises(PrefixInvalid) as e:
        validate_prefixes("!{timestamp:yyyy}/", "errors/!{timestamp:yyyy}/", False)
    assert e.value.message == MSG_ERROR_PREFIX_NEEDS_TYPE
    validate_prefixes("!{timestamp:yyyy}/", "errors/", False)


def test_error_prefix_cannot_use_partition_keys():
    """S3P rules (current page, quoted in aws-cdk's S3Bucket validation): "You cannot use
    partitionKeyFromLambda and partitionKeyFromQuery namespaces when creating ErrorOutputPrefix
    expressions"."""
    for namespace in ("partitionKeyFromQuery", "partitionKeyFromLambda"):
        with pytest.raises(PrefixInvalid) as e:
            validate_prefixes("k=!{partitionKeyFromQuery:k}/", f"e/!{{{namespace}:k}}/!{{firehose:error-output-type}}", True)
        assert (e.value.message, e.value.field) == (MSG_NO_PARTITION_KEYS_IN_ERROR_PREFIX, "ErrorOutputPrefix")


@pytest.mark.parametrize("namespace", ["partitionKeyFromQuery", "partitionKeyFromLambda"])
def test_partition_keys_need_dynamic_partitioning(namespace):
    """The service's message, as reported from CreateDeliveryStream / CloudFormation."""
    with pytest.raises(PrefixInvalid) as e:
        validate_prefixes(f"k=!{{{namespace}:k}}/", "e/!{firehose:error-output-type}/", False)
    assert e.value.message == (
        "Dynamic Partitioning Namespaces can only be part of a prefix expression when Dynamic Partitioning is enabled.")
    assert e.value.message == MSG_PARTITION_KEYS_NEED_DP


@pytest.mark.parametrize("prefix", [None, "", "static/", "!{timestamp:yyyy}/"])
def test_dynamic_partitioning_needs_partition_key_expressions(prefix):
    """DPP: with dynamic partitioning "you must specify the S3 bucket prefixes" and the prefix "consists of
    expressions based on the specified partitioning keys". (The message wording is tidelake's.)"""
    with pytest.raises(PrefixInvalid) as e:
        validate_prefixes(prefix, "e/!{firehose:error-output-type}/", True)
    assert e.value.message == MSG_DP_NEEDS_PARTITION_KEYS


def test_dynamic_partitioning_needs_error_prefix():
    """DPE: "You must specify an S3 error bucket prefix ... if you want to enable dynamic partitioning"."""
    with pytest.raises(PrefixInvalid) as e:
        validate_prefixes("k=!{partitionKeyFromLambda:k}/", None, True)
    assert e.value.message == MSG_ERROR_PREFIX_REQUIRED


def test_literal_prefix_needs_no_error_prefix():
    """S3P rules: "ErrorOutputPrefix can be null only if Prefix contains no expressions"."""
    validate_prefixes("myFirehosePrefix", None, False)
    validate_prefixes(None, None, False)


@pytest.mark.parametrize("prefix", [
    "a/!{timestamp:yyyy",           # never closed
    "a/!{}/",                       # empty
    "a/!{timestamp}/",              # no value
    "a/!{timestamp:}/",             # empty value
    "a/!{unknown:x}/",              # unknown namespace
    "a/!{firehose:uuid}/",          # unknown firehose value
    "a/!{Timestamp:yyyy}/",         # namespaces are case-sensitive
])
def test_malformed_or_unknown_expressions_are_rejected(prefix):
    """S3P rules: "The sequence !{ can only appear in !{namespace:value} expressions"; S3P lists the
    namespaces (firehose, timestamp, partitionKeyFromQuery, partitionKeyFromLambda) and the two
    firehose values."""
    with pytest.raises(PrefixInvalid) as e:
        validate_prefixes(prefix, "e/!{firehose:error-output-type}/", False)
    assert e.value.message.startswith(MSG_BAD_SEQUENCE)


def test_malformed_error_prefix_names_its_field():
    with pytest.raises(PrefixInvalid) as e:
        validate_prefixes(None, "e/!{firehose:error-output-type", False)
    assert e.value.field == "ErrorOutputPrefix"


def test_braces_without_bang_are_literal():
    assert evaluate("a{b}/!c/", timestamp=AUG_27) == "a{b}/!c/"


def test_configured_length_limit_is_the_api_models():
    """botocore's firehose model: Prefix and ErrorOutputPrefix are at most 1024 characters."""
    validate_prefixes("p" * 1024, None, False)
    with pytest.raises(ValidationFailed, match="1024"):
        validate_prefixes("p" * 1025, None, False)
    with pytest.raises(ValidationFailed, match="ErrorOutputPrefix"):
        validate_prefixes(None, "p" * 1025, False)


def test_evaluated_length_limit_is_512():
    """S3P rules: "Neither Prefix nor ErrorOutputPrefix can be greater than 512 characters after they're
    evaluated"; DPE: records whose prefix cannot be evaluated go to the error prefix, hence the
    PrefixEvaluationFailed family."""
    assert len(evaluate("p" * 508 + "!{timestamp:yyyy}", timestamp=AUG_27)) == 512
    with pytest.raises(EvaluatedPrefixTooLong) as e:
        evaluate("p" * 509 + "!{timestamp:yyyy}", timestamp=AUG_27)
    assert isinstance(e.value, PrefixEvaluationFailed) and e.value.limit == 512


# --- Partition keys (DPP, ATH, DPE) ----------------------------------------------------------------------

def test_dpp_example_prefix():
    """DPP: the hive-style example prefix (its JSON shows it wrapped over lines; the line breaks are a
    rendering artefact and are dropped here) and the record it partitions, delivered as
    ``customer_id=1234567890/device=mobile/year=2019/month=08/day=09/hour=20/``."""
    prefix = ("customer_id=!{partitionKeyFromQuery:customer_id}/device=!{partitionKeyFromQuery:device}/"
              "year=!{partitionKeyFromQuery:year}/month=!{partitionKeyFromQuery:month}/"
              "day=!{partitionKeyFromQuery:day}/hour=!{partitionKeyFromQuery:hour}/")
    validate_prefixes(prefix, "errors/!{firehose:error-output-type}/", True)
    keys = {"customer_id": "1234567890", "device": "mobile", "year": "2019", "month": "08", "day": "09", "hour": "20"}
    assert evaluate(effective_prefix(prefix, True), timestamp=at(2019, 8, 9, 23, 55, 9), partition_keys=keys) == (
        "customer_id=1234567890/device=mobile/year=2019/month=08/day=09/hour=20/")


def test_ath_timestamp_and_partition_key():
    """ATH: ``prefix/!{timestamp:yyyy}-!{timestamp:MM}-!{timestamp:dd}/!{partitionKeyFromQuery:customer_id}/``
    writes keys such as ``prefix/2021-11-01/customer-1234/file.extension``."""
    prefix = "prefix/!{timestamp:yyyy}-!{timestamp:MM}-!{timestamp:dd}/!{partitionKeyFromQuery:customer_id}/"
    validate_prefixes(prefix, "errors/!{firehose:error-output-type}/", True)
    assert evaluate(prefix, timestamp=at(2021, 11, 1, 8), partition_keys={"customer_id": "customer-1234"}) == (
        "prefix/2021-11-01/customer-1234/")


def test_lambda_and_query_keys_can_share_a_name():
    prefix = "q=!{partitionKeyFromQuery:id}/l=!{partitionKeyFromLambda:id}/"
    keys = {"partitionKeyFromQuery:id": "from-jq", "partitionKeyFromLambda:id": "from-lambda"}
    assert evaluate(prefix, timestamp=AUG_27, partition_keys=keys) == "q=from-jq/l=from-lambda/"
    assert evaluate(prefix, timestamp=AUG_27, partition_keys={"id": "x"}) == "q=x/l=x/"


def test_missing_partition_key_is_routed_to_error_prefix():
    """DPE: records whose partitioning keys cannot be extracted go to the error prefix."""
    with pytest.raises(PartitionKeyMissing) as e:
        evaluate("a=!{partitionKeyFromQuery:a}/b=!{partitionKeyFromLambda:b}/", timestamp=AUG_27,
                 partition_keys={"a": "1"})
    assert (e.value.key, e.value.namespace) == ("b", "partitionKeyFromLambda")
    assert isinstance(e.value, PrefixEvaluationFailed) and isinstance(e.value, InvalidArgument)


# --- Timestamp patterns (JDK DateTimeFormatter) ----------------------------------------------------------

MONDAY = at(2018, 8, 27, 10, 30, 5, 123456)  # Aug 27, 2018 was a Monday, day 239 of the year


@pytest.mark.parametrize(("pattern", "expected"), [
    ("yyyy", "2018"), ("yy", "18"), ("y", "2018"), ("yyyyy", "02018"), ("uuuu", "2018"),
    ("M", "8"), ("MM", "08"), ("MMM", "Aug"), ("MMMM", "August"), ("MMMMM", "A"), ("LLL", "Aug"),
    ("d", "27"), ("dd", "27"), ("D", "239"), ("DDD", "239"), ("F", "6"),
    ("H", "10"), ("HH", "10"), ("h", "10"), ("hh", "10"), ("K", "10"), ("k", "10"), ("a", "AM"),
    ("m", "30"), ("mm", "30"), ("s", "5"), ("ss", "05"),
    ("S", "1"), ("SSS", "123"), ("SSSSSS", "123456"), ("SSSSSSSSS", "123456000"), ("n", "123456000"),
    ("A", "37805123"),
    ("E", "Mon"), ("EEE", "Mon"), ("EEEE", "Monday"), ("EEEEE", "M"),
    ("G", "AD"), ("GGGG", "Anno Domini"), ("Q", "3"), ("QQ", "03"), ("QQQ", "Q3"), ("QQQQ", "3rd quarter"),
    ("Z", "+0000"), ("XXX", "Z"), ("xxx", "+00:00"), ("O", "GMT"),
    ("yyyy-MM-dd'T'HH", "2018-08-27T10"),       # quoted letter, the brief's example
    ("yyyy'-'MM'-'dd", "2018-08-27"),          # quoting non-letters changes nothing
    ("hh 'o''clock' a", "10 o'clock AM"),      # JDK: '' inside quotes is a quote
    ("''yy", "'18"),                           # JDK: '' outside quotes is a quote
    ("yyyy[/MM]", "2018/08"),                  # optional sections print (every field is present)
    ("yyyy/MM/dd/HH/", "2018/08/27/10/"),      # S3P rules' own appended expression
])
def test_timestamp_patterns(pattern, expected):
    assert evaluate(f"!{{timestamp:{pattern}}}", timestamp=MONDAY) == expected


@pytest.mark.parametrize(("when", "pattern", "expected"), [
    (at(2018, 1, 5, 0, 15), "H h K k a", "0 12 0 24 AM"),
    (at(2018, 1, 5, 13, 0), "HH hh KK kk a", "13 01 01 13 PM"),
    (at(2018, 1, 5), "D DD DDD M d E", "5 05 005 1 5 Fri"),
])
def test_timestamp_hours_and_padding(when, pattern, expected):
    assert evaluate(f"!{{timestamp:{pattern}}}", timestamp=when) == expected


@pytest.mark.parametrize(("pattern", "java_message"), [
    ("yyyy-MM-ddTHH", "Unknown pattern letter: T"),
    ("ddd", "Too many pattern letters: d"),
    ("aa", "Too many pattern letters: a"),
    ("SSSSSSSSSS", "Too many pattern letters: S"),
    ("yyyy'", "Pattern ends with an incomplete string literal"),
    ("yyyy#", "Pattern includes reserved character: '#'"),
    ("yyyy{", "Pattern includes reserved character: '{'"),
    ("yyyy]", "Pattern invalid as it contains ] without previous ["),
])
def test_invalid_timestamp_patterns_are_rejected(pattern, java_message):
    """S3P: values must be "valid Java DateTimeFormatter strings"; the detail is Java's own message."""
    with pytest.raises(PrefixInvalid) as e:
        validate_prefixes(f"!{{timestamp:{pattern}}}/", "e/!{firehose:error-output-type}/", False)
    assert java_message in e.value.message


@pytest.mark.parametrize("pattern", ["ww", "YYYY", "e", "z", "VV"])
def test_locale_or_zone_dependent_letters_are_unsupported(pattern):
    """Valid in Java, but week fields depend on a locale and zone names on the zone ID AWS uses."""
    with pytest.raises(Unsupported):
        validate_prefixes(f"!{{timestamp:{pattern}}}/", "e/!{firehose:error-output-type}/", False)


# --- Parsing -----------------------------------------------------------------------------------------------

def test_parse_splits_literals_and_expressions():
    assert parse("a/!{timestamp:yyyy}!{firehose:random-string}/k=!{partitionKeyFromQuery:k}") == (
        Literal("a/"), Expression("timestamp", "yyyy"), Expression("firehose", "random-string"),
        Literal("/k="), Expression("partitionKeyFromQuery", "k"))
    assert parse("") == ()


# --- Object names (OBJ) ------------------------------------------------------------------------------------

def test_object_name_format():
    """OBJ: ``<Firehose stream name>-<Firehose stream version>-<year>-<month>-<day>-<hour>-<minute>-<second>-
    <uuid><file extension>``, UTC by default; "<Firehose stream version> begins with 1"."""
    assert object_name("my-stream", 1, at(2018, 8, 27, 10, 30, 5), "a9fa96af-e4e4-409f-bac3-1f804714faaa") == (
        "my-stream-1-2018-08-27-10-30-05-a9fa96af-e4e4-409f-bac3-1f804714faaa")
    assert object_name("s", 3, at(2018, 1, 2, 3, 4, 5), "r", file_extension=".parquet") == (
        "s-3-2018-01-02-03-04-05-r.parquet")


def test_dpp_example_object_key():
    """DPP's example key ends ``my-delivery-stream-2019-08-09-23-55-09-a9fa96af-e4e4-409f-bac3-1f804714faaa``.
    That rendering has no version field, unlike OBJ's format (which we follow), so only the time and
    UUID parts are compared."""
    name = object_name("my-delivery-stream", 1, at(2019, 8, 9, 23, 55, 9), "a9fa96af-e4e4-409f-bac3-1f804714faaa")
    assert name.endswith("-2019-08-09-23-55-09-a9fa96af-e4e4-409f-bac3-1f804714faaa")


def test_object_name_rejects_version_zero_and_empty_random():
    with pytest.raises(InvalidArgument):
        object_name("s", 0, AUG_27, "r")
    with pytest.raises(InvalidArgument):
        object_name("s", 1, AUG_27, "")
