-- Shared platform objects. The migration runner itself creates meta.schema_migrations and the roles.
-- Nobody but the owner may create objects in public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
