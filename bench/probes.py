"""What the benchmark's stack measures inside the web process (bench settings only)."""

from django.db import connection


class QueryCountMiddleware:
    """Answers every request with ``Bench-Queries``: the SQL statements it sent. The load
    generator reads it (``Prefer: wait`` without polling is judged by it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        count = [0]

        def counted(execute, sql, params, many, context):
            count[0] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counted):
            response = self.get_response(request)
        response["Bench-Queries"] = str(count[0])
        return response
