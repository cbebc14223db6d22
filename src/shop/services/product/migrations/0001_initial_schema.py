"""catalogue: categories, products, images, reviews; stock reservations; purchases

Revision ID: 0001
Revises:
Create Date: 2026-11-29 01:55:48.524487
"""

import sqlalchemy as sa
from alembic import op

import isles

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["categories.id"], name=op.f("fk_categories_parent_id_categories")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("slug", name=op.f("uq_categories_slug")),
    )
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("idx_categories_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "purchases",
        sa.Column("user_id_ref", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("order_id_ref", sa.Uuid(), nullable=False),
        sa.Column("placed_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id_ref", "product_id", name=op.f("pk_purchases")),
    )
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("idx_purchases_order_id_ref"), ["order_id_ref"], unique=False)
        batch_op.create_index(batch_op.f("idx_purchases_product_id"), ["product_id"], unique=False)

    op.create_table(
        "stock_reservations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", isles.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('reserved', 'released')", name=op.f("ck_stock_reservations_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_reservations")),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("price", isles.Money(), nullable=False),
        sa.Column("stock_quantity", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price > 0", name=op.f("ck_products_price_positive")),
        sa.CheckConstraint("stock_quantity >= 0", name=op.f("ck_products_stock_not_negative")),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"], name=op.f("fk_products_category_id_categories")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("sku", name=op.f("uq_products_sku")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("idx_products_category_id"), ["category_id"], unique=False)
        batch_op.create_index(batch_op.f("idx_products_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("idx_products_price"), ["price"], unique=False)

    op.create_table(
        "product_images",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("alt_text", sa.String(length=300), nullable=True),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("created_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_images_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_images")),
    )
    with op.batch_alter_table("product_images", schema=None) as batch_op:
        batch_op.create_index(
            "idx_product_images_product_id_display_order", ["product_id", "display_order"], unique=False
        )

    op.create_table(
        "product_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("user_id_ref", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_product_reviews_rating_range")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_reviews_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_reviews")),
        sa.UniqueConstraint("product_id", "user_id_ref", name="uq_product_reviews_product_id_user_id_ref"),
    )
    with op.batch_alter_table("product_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("idx_product_reviews_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("idx_product_reviews_user_id_ref"), ["user_id_ref"], unique=False)

    op.create_table(
        "reservation_lines",
        sa.Column("reservation_id", sa.Uuid(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit_price", isles.Money(), nullable=False),
        sa.Column("created_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", isles.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_reservation_lines_quantity_positive")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_reservation_lines_product_id_products")),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["stock_reservations.id"],
            name=op.f("fk_reservation_lines_reservation_id_stock_reservations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reservation_id", "line_no", name=op.f("pk_reservation_lines")),
    )
    with op.batch_alter_table("reservation_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("idx_reservation_lines_product_id"), ["product_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reservation_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("idx_reservation_lines_product_id"))

    op.drop_table("reservation_lines")
    with op.batch_alter_table("product_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("idx_product_reviews_user_id_ref"))
        batch_op.drop_index(batch_op.f("idx_product_reviews_created_at"))

    op.drop_table("product_reviews")
    with op.batch_alter_table("product_images", schema=None) as batch_op:
        batch_op.drop_index("idx_product_images_product_id_display_order")

    op.drop_table("product_images")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("idx_products_price"))
        batch_op.drop_index(batch_op.f("idx_products_name"))
        batch_op.drop_index(batch_op.f("idx_products_category_id"))

    op.drop_table("products")
    op.drop_table("stock_reservations")
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("idx_purchases_product_id"))
        batch_op.drop_index(batch_op.f("idx_purchases_order_id_ref"))

    op.drop_table("purchases")
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("idx_categories_parent_id"))

    op.drop_table("categories")
