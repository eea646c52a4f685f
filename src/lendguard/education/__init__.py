"""Consumer education (issue #21): the content library, what customers were sent and read,
quizzes and reach."""
