"""Stand-ins and generated media that tests and benchmarks share: a Gemini `generateContent`
server on 127.0.0.1 and read speech with known truth. Not part of the installed package, and
no layer of it: the project's own code never imports it."""
