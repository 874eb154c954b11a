from django.db import migrations

# auth.User belongs to Django; the index is added with SQL that SQLite and PostgreSQL share.
INDEX = "accounts_user_username_lower_uniq"


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE UNIQUE INDEX {INDEX} ON auth_user (LOWER(username))",
            reverse_sql=f"DROP INDEX {INDEX}",
        )
    ]
