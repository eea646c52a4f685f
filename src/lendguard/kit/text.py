"""Text every API string must satisfy, as a JSON Schema pattern.

The edge guard (:mod:`lendguard.web.guard`) refuses C0 control characters other than tab, line
feed and carriage return, and DEL, in every path, query and JSON string; models and the OpenAPI
document state the same rule with this pattern, so a client generator or fuzzer knows such a
value is not valid input. Here, not in the web package, so models that state it stay light."""

TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
