from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination

MAX_PAGE_SIZE = 100


class Pagination(PageNumberPagination):
    """`?page=N&page_size=M`: N ≥ 1, M in 1..100 (anything else is a 400, so no request lists a
    whole table and the schema's bounds are the API's). An empty value means the default."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        values = request.query_params.getlist(self.page_size_query_param)
        if not values or values == [""]:
            return self.page_size
        value = values[-1]
        if len(values) > 1 or not (value.isascii() and value.isdigit()):
            raise ValidationError({self.page_size_query_param: ["An integer is required."]})
        if not 1 <= int(value) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Must be 1..{self.max_page_size}."]}
            )
        return int(value)

    def get_schema_operation_parameters(self, view):
        page, page_size = super().get_schema_operation_parameters(view)
        page["schema"].update(minimum=1)
        page_size["schema"].update(minimum=1, maximum=self.max_page_size, default=self.page_size)
        for parameter in (page, page_size):
            parameter["allowEmptyValue"] = True  # empty: the first page, the default size
        return [page, page_size]
