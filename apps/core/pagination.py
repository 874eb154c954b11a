from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """`?page=N&page_size=M`; the page size is bounded so no request lists a whole table."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
